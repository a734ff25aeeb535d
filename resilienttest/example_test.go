package resilienttest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/resilient-http/resilient/resilienttest"
)

// importAll is the code under test: a user's client that submits batches
// and must stop at the first 402 rather than resubmit.
func importAll(c *http.Client, baseURL string, batches int) (accepted int, err error) {
	for range batches {
		resp, err := c.Post(baseURL+"/v1/enhancements", "application/json",
			strings.NewReader(`{"persons":[{"name":"Ada"}]}`))
		if err != nil {
			return accepted, err
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			accepted++
		case http.StatusPaymentRequired:
			return accepted, fmt.Errorf("out of credits after %d batches", accepted)
		}
	}
	return accepted, nil
}

// A user's test: with two credits left, a client asked for five batches
// submits three times (two accepted, one 402) and stops.
func Example() {
	t := &testing.T{} // stands in for the test's own *testing.T
	api := resilienttest.NewPartnerServer(t)
	defer api.Close()
	api.SetCredits(2)

	accepted, err := importAll(api.Client(), api.URL, 5)
	fmt.Println(accepted, err)
	fmt.Println("submits:", api.Hits(resilienttest.RouteEnhancements))
	// Output:
	// 2 out of credits after 2 batches
	// submits: 3
}

// Faults between a client and a healthy server: a fifth of the requests
// answered 503 with Retry-After, reproducibly for a given seed.
func ExampleInject() {
	t := &testing.T{} // stands in for the test's own *testing.T
	srv := resilienttest.New(t, resilienttest.Reply(http.StatusOK, "ok"))
	defer srv.Close()
	faults := resilienttest.Inject(srv.Client().Transport, resilienttest.Faults{
		Seed:   1,
		Status: resilienttest.StatusFault{Rate: 0.2, Code: http.StatusServiceUnavailable, RetryAfter: "1"},
	})
	c := &http.Client{Transport: faults}
	for range 100 {
		if resp, err := c.Get(srv.URL); err == nil {
			resp.Body.Close()
		}
	}
	n := faults.Counts()
	fmt.Println(n.Requests, "requests,", n.Statuses, "injected 503s,", srv.Hits(), "reached the server")
	// Output:
	// 100 requests, 24 injected 503s, 76 reached the server
}
