package credits_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/resilient-http/resilient/transport/apierror"
	"github.com/resilient-http/resilient/transport/credits"
)

func Example() {
	// An API whose submit endpoint answers 402 while the account is out of
	// credits; reading results stays free.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/enhancements" {
			w.WriteHeader(http.StatusPaymentRequired)
			fmt.Fprint(w, `{"detail":"Insufficient credits"}`)
			return
		}
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()

	cr := credits.New(srv.Client().Transport, credits.Policy{})
	client := &http.Client{Transport: cr}
	for _, call := range []struct{ method, path string }{
		{"POST", "/v1/enhancements"},
		{"POST", "/v1/enhancements"},
		{"POST", "/v1//enhancements/"}, // another spelling of the same route
		{"GET", "/v1/jobs/42/results"},
	} {
		req, _ := http.NewRequest(call.method, srv.URL+call.path, strings.NewReader(`{"persons":[]}`))
		resp, err := client.Do(req)
		switch {
		case errors.Is(err, apierror.ErrInsufficientCredits):
			fmt.Println(call.method, call.path, "→ refused locally, nothing sent")
		case err != nil:
			fmt.Println(call.method, call.path, "→", err)
		default:
			resp.Body.Close()
			fmt.Println(call.method, call.path, "→", resp.Status)
		}
	}
	for _, key := range cr.Latched() {
		fmt.Println("latched:", strings.Replace(key, srv.URL, "http://api", 1))
	}
	cr.Reset() // the account was topped up
	fmt.Println("after Reset:", len(cr.Latched()), "latched")
	// Output:
	// POST /v1/enhancements → 402 Payment Required
	// POST /v1/enhancements → refused locally, nothing sent
	// POST /v1//enhancements/ → refused locally, nothing sent
	// GET /v1/jobs/42/results → 200 OK
	// latched: POST http://api/v1/enhancements
	// after Reset: 0 latched
}

// An API that reports the credits left in each accepted submit: the
// layer reads the count as the caller reads the body, and latches the
// route when it reaches zero, before any 402.
func Example_remainingField() {
	left := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if left == 0 {
			w.WriteHeader(http.StatusPaymentRequired)
			return
		}
		left--
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"job_id":"job_%d","meta":{"imports_remaining":%d}}`, 2-left, left)
	}))
	defer srv.Close()

	cr := credits.New(srv.Client().Transport, credits.Policy{RemainingField: "meta.imports_remaining"})
	client := &http.Client{Transport: cr}
	for range 3 {
		resp, err := client.Post(srv.URL+"/v1/enhancements", "application/json", strings.NewReader(`{"persons":[]}`))
		if err != nil {
			fmt.Println("refused locally, nothing sent:", errors.Is(err, apierror.ErrInsufficientCredits))
			continue
		}
		body, _ := io.ReadAll(resp.Body) // the count is read here, as the caller reads
		resp.Body.Close()
		fmt.Println(resp.Status, string(body))
	}
	for key, n := range cr.Remaining() {
		fmt.Println("remaining:", strings.Replace(key, srv.URL, "http://api", 1), n)
	}
	// Output:
	// 202 Accepted {"job_id":"job_1","meta":{"imports_remaining":1}}
	// 202 Accepted {"job_id":"job_2","meta":{"imports_remaining":0}}
	// refused locally, nothing sent: true
	// remaining: POST http://api/v1/enhancements 0
}
