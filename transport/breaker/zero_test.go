package breaker

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/resilient-http/resilient/transport/errclass"
)

// The zero Transport is New(nil, Policy{}): the default breakers over
// http.DefaultTransport, made on first use.
func TestZeroTransport(t *testing.T) {
	up := newUpstream(t, 500)
	var tr Transport
	defer tr.CloseIdleConnections() // reaches http.DefaultTransport, for goleak
	if st := tr.States(); len(st) != 0 {
		t.Errorf("States() of an unused zero Transport = %v, want empty", st)
	}
	for i := range DefaultConsecutiveFailures {
		resp, err := get(t, &tr, up.URL)
		if err != nil || resp.StatusCode != 500 {
			t.Fatalf("call %d: %v, %v; want the 500 passed through", i+1, resp, err)
		}
	}
	if _, err := get(t, &tr, up.URL); !errors.Is(err, ErrOpen) {
		t.Errorf("after %d failures: error = %v, want ErrOpen (default policy)", DefaultConsecutiveFailures, err)
	}
	if got := up.hits.Load(); got != DefaultConsecutiveFailures {
		t.Errorf("server saw %d requests, want %d", got, DefaultConsecutiveFailures)
	}
	if st := tr.States()[up.URL]; st != StateOpen {
		t.Errorf("States()[%s] = %v, want open", up.URL, st)
	}
}

// Every layer answers an unsendable request with an error matching the one
// sentinel, closing its body.
func TestInvalidRequestSentinel(t *testing.T) {
	for _, tr := range []*Transport{{}, New(nil, Policy{})} {
		if _, err := tr.RoundTrip(nil); !errors.Is(err, errclass.ErrInvalidRequest) {
			t.Errorf("RoundTrip(nil) error = %v, want errclass.ErrInvalidRequest", err)
		}
		body := &closeRecorder{Reader: strings.NewReader("x")}
		_, err := tr.RoundTrip(&http.Request{Method: http.MethodPost, Header: http.Header{}, Body: body})
		if !errors.Is(err, errclass.ErrInvalidRequest) || !strings.HasPrefix(err.Error(), "breaker: ") {
			t.Errorf("RoundTrip(no URL) error = %v, want errclass.ErrInvalidRequest prefixed breaker:", err)
		}
		if !body.closed {
			t.Error("the body of an invalid request was not closed")
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }
