package breaker_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
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
