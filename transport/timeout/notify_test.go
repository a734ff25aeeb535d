package timeout_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/internal/bodywatch"
	"github.com/resilient-http/resilient/transport/timeout"
)

type reporter struct{ done chan bool }

func (r reporter) BodyDone(token uint64, cut bool) { r.done <- cut }

// The breaker counts a stalled body as a failure through bodywatch.Notifier,
// which timeout's bodies must keep implementing.
func TestBodiesNotifyTheBreaker(t *testing.T) {
	stall := make(chan struct{})
	defer close(stall)
	below := func(r *http.Request) (*http.Response, error) {
		pr, pw := io.Pipe()
		go func() {
			select {
			case <-stall:
			case <-r.Context().Done():
			}
			pw.CloseWithError(r.Context().Err())
		}()
		return &http.Response{StatusCode: 200, Body: pr}, nil
	}
	tr := timeout.New(rtFunc(below), timeout.Policy{BodyIdle: 10 * time.Millisecond})
	resp, err := tr.RoundTrip(httptest.NewRequest("GET", "http://x.test/", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, ok := resp.Body.(bodywatch.Notifier)
	if !ok {
		t.Fatalf("body %T is not a bodywatch.Notifier: the breaker would not count a cut", resp.Body)
	}
	r := reporter{make(chan bool, 2)}
	if !n.NotifyCut(r, 7) {
		t.Fatal("NotifyCut() = false on a body with an idle bound")
	}
	io.ReadAll(resp.Body)
	if cut := <-r.done; !cut {
		t.Error("BodyDone(cut=false) for a stalled body, want true")
	}
	if n.NotifyCut(r, 8) {
		t.Error("NotifyCut() = true on a body that ended")
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
