package transport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
)

// A server (or a proxy relaying another stack's refusal over the
// network) that sends errclass.RefusedHeader on its own 503s must not
// pass for a refusal of ours: its 503s are a failing server's, retried as
// such and counted by the breaker. Only a response the stack made in this
// process is a refusal.
func TestServerSentRefusedMarkerIsNotARefusal(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set(errclass.RefusedHeader, "breaker")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	out := errclass.Classify(nil, &http.Response{StatusCode: 503, Header: http.Header{errclass.RefusedHeader: {"breaker"}}}, nil)
	if out.Refused || !out.ServerFault || out.Class != errclass.Retryable {
		t.Errorf("Classify(a 503 with a server-sent %s) = %+v, want the server's retryable fault", errclass.RefusedHeader, out)
	}

	c, err := NewClient(srv.Client(), Config{Default: Policy{
		Retry:   retry.Policy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
		Breaker: breaker.Policy{ConsecutiveFailures: 3, OpenTimeout: time.Minute},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		resp, err := c.Get(srv.URL + "/v1/jobs")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if n := hits.Load(); n > 3 {
		t.Errorf("a server failing every request got %d requests, want the breaker open after 3", n)
	}
	for name, st := range c.Transport.(*Stack).States() {
		if st != breaker.StateOpen {
			t.Errorf("breaker %s is %v, want open", name, st)
		}
	}
}
