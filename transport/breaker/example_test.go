package breaker_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/errclass"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway) // the upstream is down
	}))
	defer srv.Close()

	br := breaker.New(srv.Client().Transport, breaker.Policy{
		ConsecutiveFailures: 3,
		OpenTimeout:         time.Minute,
	})
	client := &http.Client{Transport: br}

	for i := 1; i <= 5; i++ {
		resp, err := client.Get(srv.URL + "/v1/jobs/42")
		switch {
		case errors.Is(err, breaker.ErrOpen):
			fmt.Printf("call %d: failed fast, nothing sent\n", i)
		case err != nil:
			fmt.Printf("call %d: %v\n", i, err)
		default:
			resp.Body.Close()
			fmt.Printf("call %d: %s\n", i, resp.Status)
		}
	}
	fmt.Println("state:", br.States()[srv.URL])
	// Output:
	// call 1: 502 Bad Gateway
	// call 2: 502 Bad Gateway
	// call 3: 502 Bad Gateway
	// call 4: failed fast, nothing sent
	// call 5: failed fast, nothing sent
	// state: open
}

// A 402 latches the endpoint: later submits fail fast until credits are reset.
func Example_insufficientCredits() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusPaymentRequired)
		fmt.Fprint(w, `{"detail":"Insufficient credits"}`)
	}))
	defer srv.Close()

	br := breaker.New(srv.Client().Transport, breaker.Policy{})
	client := &http.Client{Transport: br}
	for i := 1; i <= 2; i++ {
		resp, err := client.Post(srv.URL+"/v1/enhancements", "application/json", nil)
		if errors.Is(err, errclass.ErrInsufficientCredits) {
			fmt.Printf("submit %d: refused locally, nothing sent\n", i)
			continue
		}
		resp.Body.Close()
		fmt.Printf("submit %d: %s\n", i, resp.Status)
	}
	br.ResetCredits() // credits were replenished
	// Output:
	// submit 1: 402 Payment Required
	// submit 2: refused locally, nothing sent
}
