package transport_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
)

// A header-routed API (the AWS JSON protocol sends every operation to
// POST /, naming it in X-Amz-Target) gets a policy per operation, and a
// pattern that no request matched shows up for a health endpoint.
func ExampleStack_UnmatchedPatterns() {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()

	client, err := transport.NewClient(srv.Client(), transport.Config{
		RouteHeader: "X-Amz-Target",
		Endpoints: map[string]transport.Policy{
			"DynamoDB_20120810.PutItem": {Retry: retry.Policy{RequireIdempotencyKey: true}},
			"GET /v1/jobs/{id}":         {}, // never called below
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	stack := client.Transport.(*transport.Stack)

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", nil)
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Printf("policy: %q\n", stack.Pattern(req))
	fmt.Println("unmatched:", stack.UnmatchedPatterns())
	// Output:
	// policy: "DynamoDB_20120810.PutItem"
	// unmatched: [GET /v1/jobs/{id}]
}

// With RefusalsAs503, an open breaker answers as a 503 with Retry-After
// that SDKs understand, marked so that no layer takes it for the server's.
func ExamplePolicy_refusalsAs503() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()

	client, err := transport.NewClient(srv.Client(), transport.Config{Default: transport.Policy{
		Retry:         retry.Policy{MaxAttempts: 1},
		Breaker:       breaker.Policy{ConsecutiveFailures: 1},
		RefusalsAs503: true,
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Printf("%d retry-after=%q refused=%q\n", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get(errclass.RefusedHeader))
	}
	// Output:
	// 502 retry-after="" refused=""
	// 503 retry-after="5" refused="breaker"
}
