package transport_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
)

func ExampleWrap() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	// An existing client, with settings worth keeping.
	existing := &http.Client{Timeout: 10 * time.Second}

	// A copy of it that retries; existing is left as it was.
	client := transport.Wrap(existing, retry.Middleware(retry.Policy{}))

	resp, err := client.Post(srv.URL+"/v1/enhancements", "application/json", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, client.Timeout)
	// Output: 202 Accepted 10s
}

func ExampleChain() {
	logAttempts := func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			attempt := errclass.AttemptFromContext(req.Context())
			resp, err := next.RoundTrip(req)
			if err == nil {
				fmt.Printf("attempt %d: %d\n", attempt.Number, resp.StatusCode)
			}
			return resp, err
		})
	}
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	// The first middleware is the outermost: retry runs the logger once per attempt.
	rt := transport.Chain(srv.Client().Transport,
		retry.Middleware(retry.Policy{BaseDelay: time.Millisecond}),
		logAttempts,
	)
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	// Output:
	// attempt 1: 500
	// attempt 2: 200
}

func ExampleNewClient() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusServiceUnavailable) // submits fail
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	cfg, err := transport.ParseConfig([]byte(`{
		"default": {"retry": {"base_delay": "1ms"}},
		"endpoints": {
			"POST /v1/enhancements": {"retry": {"max_attempts": 2, "base_delay": "1ms"}, "attempt_timeout": "30s"}
		}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := transport.NewClient(srv.Client(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	stack := client.Transport.(*transport.Stack)

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/enhancements", strings.NewReader(`{"persons":[]}`))
	fmt.Printf("policy: %q\n", stack.Pattern(req))
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// policy: "POST /v1/enhancements"
	// 503 Service Unavailable
}
