package pacing_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/resilient-http/resilient/transport/pacing"
)

// A server says its quota is spent for 30 seconds; the next request, which
// would have to wait longer than the policy allows, is refused without
// being sent, and the error says how long the window has left.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Policy", `"default";q=100;w=60`)
		w.Header().Set("RateLimit", `"default";r=0;t=30`)
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()

	client := &http.Client{Transport: pacing.New(srv.Client().Transport, pacing.Policy{
		MaxWait: 5 * time.Second,
	})}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL + "/v1/items")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("first:", resp.StatusCode)

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/v1/items", nil)
	_, err = client.Do(req)
	var pe *pacing.Error
	if errors.As(err, &pe) {
		fmt.Println("second: refused, window of", pe.Delay.Round(time.Second))
	}
	// Output:
	// first: 200
	// second: refused, window of 30s
}
