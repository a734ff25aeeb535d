package apierror_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/resilient-http/resilient/transport/apierror"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"detail":[{"type":"missing","loc":["body","persons",0,"name"],"msg":"Field required","input":{"email":"a@example.org"}}]}`)
	}))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/v1/enhancements", "application/json", nil)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()

	// Turn the body into a typed error; resp.Body stays readable.
	err = apierror.Decode(resp)
	fmt.Println("validation error:", errors.Is(err, apierror.ErrValidation))
	var apiErr *apierror.Error
	if errors.As(err, &apiErr) {
		for _, v := range apiErr.Violations {
			fmt.Printf("%s: %s (%s), input %s\n", v.Loc, v.Msg, v.Type, v.Input)
		}
	}
	fmt.Println(err)
	body, _ := io.ReadAll(resp.Body)
	fmt.Println("body still readable:", len(body) > 0)
	// Output:
	// validation error: true
	// body.persons[0].name: Field required (missing), input {"email":"a@example.org"}
	// apierror: 422 Unprocessable Entity: body.persons[0].name: Field required
	// body still readable: true
}
