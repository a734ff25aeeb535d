package limit_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/resilient-http/resilient/transport/limit"
)

// One request to a host may be in flight at a time. While the first
// response's body is open, a second request queues for 50ms and is
// refused, not sent; once the body is closed, the next goes through.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()

	client := &http.Client{Transport: limit.New(srv.Client().Transport, limit.Policy{
		Max:     1,
		MaxWait: 50 * time.Millisecond,
	})}
	defer client.CloseIdleConnections()

	first, err := client.Get(srv.URL + "/v1/items")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("first:", first.StatusCode)

	_, err = client.Get(srv.URL + "/v1/items")
	var le *limit.Error
	if errors.As(err, &le) {
		fmt.Println("second: refused, limit", le.Limit)
	}

	io.Copy(io.Discard, first.Body)
	first.Body.Close() // gives the slot back

	third, err := client.Get(srv.URL + "/v1/items")
	if err != nil {
		fmt.Println(err)
		return
	}
	third.Body.Close()
	fmt.Println("third:", third.StatusCode)
	// Output:
	// first: 200
	// second: refused, limit 1
	// third: 200
}
