package errclass_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/resilient-http/resilient/transport/errclass"
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

	// What would a retry layer do with this response?
	out := errclass.Classify(resp.Request, resp, nil)
	fmt.Println("class:", out.Class)

	// Turn the body into a typed error.
	err = errclass.Decode(resp)
	fmt.Println("validation error:", errors.Is(err, errclass.ErrValidation))
	var apiErr *errclass.APIError
	if errors.As(err, &apiErr) {
		for _, v := range apiErr.Violations {
			fmt.Printf("%s: %s (%s), input %s\n", v.Loc, v.Msg, v.Type, v.Input)
		}
	}
	fmt.Println(err)
	// Output:
	// class: permanent
	// validation error: true
	// body.persons[0].name: Field required (missing), input {"email":"a@example.org"}
	// errclass: 422 Unprocessable Entity: body.persons[0].name: Field required
}
