package retry

import (
	"context"
	"github.com/resilient-http/resilient/transport/errclass"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryAfterAtDefaultCapHonouredWithDefaults(t *testing.T) {
	// The README: with retry.Policy{} a Retry-After is a floor for the next
	// wait "up to 30 s", and MaxElapsed (also 30s) counts from the end of
	// the first attempt. A real clock moves between that instant and the
	// decision, so the 30s hint must not be measured against a MaxElapsed
	// already nibbled: this clock ticks 1µs on every read, as a real one
	// does. Catches the decision reading its own, later, clock.
	var hits atomic.Int32
	rt := roundTripperFunc(func(*http.Request) (*http.Response, error) {
		if hits.Add(1) == 1 {
			return &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"30"}}, Body: http.NoBody}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	})
	tr := New(rt, Policy{})
	var now atomic.Int64
	now.Store(int64(monotonic()))
	tr.clock = func() time.Duration { return time.Duration(now.Add(int64(time.Microsecond))) }
	var slept []time.Duration
	tr.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now.Add(int64(d))
		return nil
	}
	resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The wait is 30s less the clock's ticks while discarding the 429.
	if resp.StatusCode != 200 || hits.Load() != 2 || len(slept) != 1 || slept[0] < 30*time.Second-time.Millisecond {
		t.Errorf("got %d after %d attempts, waits %v; want 200 after 2, one wait of about 30s", resp.StatusCode, hits.Load(), slept)
	}
}

func TestRequireIdempotencyKeyWaitsOutRefusalResponse(t *testing.T) {
	// A stack below (transport.Policy.RefusalsAs503) answers a refusal as a
	// marked 503: the request never left this process. With WaitForBreaker
	// and RequireIdempotencyKey, a POST without a key must wait it out like
	// any failure before sending: "429 responses and failures before the
	// request was sent stay retryable". Catches the 503 status alone
	// deciding that the server may have processed it.
	var hits atomic.Int32
	rt := roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		req.Body.Close()
		if hits.Add(1) == 1 {
			h := http.Header{"Retry-After": {"1"}}
			errclass.MarkRefused(h, "breaker")
			return &http.Response{StatusCode: 503, Header: h, Body: http.NoBody}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	})
	ft := newFakeTime()
	tr := newFake(rt, Policy{RequireIdempotencyKey: true, WaitForBreaker: true}, ft)
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || hits.Load() != 2 || !slices.Equal(ft.Sleeps(), []time.Duration{time.Second}) {
		t.Errorf("got %d after %d attempts, waits %v; want 200 after 2, waiting 1s", resp.StatusCode, hits.Load(), ft.Sleeps())
	}
}

func TestDiscardReusesConnectionOfChunked64KiBBody(t *testing.T) {
	// The README: a discarded response is drained "up to 64 KiB" so that
	// its connection is reused. A chunked body of exactly 64 KiB ends
	// with a last chunk that only a read past the 64 KiB finds: without
	// it, every such 503 costs a connection. Catches the drain stopping
	// at 64 KiB without seeing the body end.
	var conns, hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) == 3 {
			return // 200
		}
		body := strings.Repeat("x", drainLimit)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(body[:100]))
		w.(http.Flusher).Flush() // no Content-Length: chunked
		w.Write([]byte(body[100:]))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	resp := mustRoundTrip(t, New(srv.Client().Transport, fast), httptest.NewRequest(http.MethodGet, srv.URL, nil))
	if resp.StatusCode != 200 || hits.Load() != 3 || conns.Load() != 1 {
		t.Errorf("got %d after %d attempts over %d connections; want 200 after 3 over 1", resp.StatusCode, hits.Load(), conns.Load())
	}
}
