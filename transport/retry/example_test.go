package retry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/retry"
)

func Example() {
	// A server that is briefly unavailable.
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"status":"done"}`)
	}))
	defer srv.Close()

	client := &http.Client{Transport: retry.New(srv.Client().Transport, retry.Policy{
		MaxAttempts: 4,
		BaseDelay:   10 * time.Millisecond,
	})}
	resp, err := client.Get(srv.URL + "/v1/jobs/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", calls.Load(), "attempts")
	// Output: 200 {"status":"done"} after 3 attempts
}

func ExampleWithMaxAttempts() {
	// A server that is down.
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	client := &http.Client{Transport: retry.New(srv.Client().Transport, retry.Policy{
		MaxAttempts: 3,
		BaseDelay:   time.Millisecond,
	})}

	// A health check wants the truth at once: this call is sent once,
	// while other calls through the same client keep their retries.
	ctx := retry.WithMaxAttempts(context.Background(), 1)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "after", calls.Load(), "attempt")

	calls.Store(0)
	resp, err = client.Get(srv.URL + "/v1/jobs/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "after", calls.Load(), "attempts")
	// Output:
	// 503 after 1 attempt
	// 503 after 3 attempts
}
