package errclass_test

import (
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

	fmt.Println("retry it:", out.Class == errclass.Retryable)
	// Output:
	// class: permanent
	// retry it: false
}
