package timeout_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/resilient-http/resilient/transport/timeout"
)

func Example() {
	// A server that answers /fast at once, and /slow never.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	// Headers bounds each request until its response headers; BodyIdle
	// cuts a body that stops arriving. Placed alone here: in a chain, put
	// it below retry (timeout.Middleware with transport.Chain).
	client := &http.Client{Transport: timeout.New(srv.Client().Transport, timeout.Policy{
		Headers:  50 * time.Millisecond,
		BodyIdle: time.Second,
	})}
	for _, path := range []string{"/fast", "/slow"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			fmt.Println(path, "→ cut:", errors.Is(err, timeout.ErrHeaders))
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(path, "→", resp.Status, string(b))
	}
	client.CloseIdleConnections()
	// Output:
	// /fast → 200 OK hello
	// /slow → cut: true
}
