package examples_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/retry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hit is one request as the emulated API received it.
type hit struct {
	At     time.Time // when the request arrived
	Header http.Header
	Body   []byte
}

// api is an httptest server on 127.0.0.1 that records every request and
// answers the n-th (from 1) with respond.
type api struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

// newAPI starts an emulated API; respond writes the answer to the n-th
// request. The server is closed when the test ends.
func newAPI(tb testing.TB, respond func(w http.ResponseWriter, r *http.Request, n int)) *api {
	tb.Helper()
	a := startAPI(respond)
	tb.Cleanup(a.Close)
	return a
}

// startAPI is newAPI for examples, which close it themselves.
func startAPI(respond func(w http.ResponseWriter, r *http.Request, n int)) *api {
	a := &api{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.hits = append(a.hits, hit{At: at, Header: r.Header.Clone(), Body: body})
		n := len(a.hits)
		a.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body)) // respond may read it again
		respond(w, r, n)
	}))
	return a
}

// Count returns how many requests the API received.
func (a *api) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.hits)
}

// Hits returns the requests received so far.
func (a *api) Hits() []hit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]hit(nil), a.hits...)
}

// sameBodies fails the test unless every request carried the same,
// non-empty body.
func (a *api) sameBodies(tb testing.TB) {
	tb.Helper()
	hits := a.Hits()
	if len(hits) == 0 || len(hits[0].Body) == 0 {
		tb.Fatalf("no request body received (%d hits)", len(hits))
	}
	for i, h := range hits[1:] {
		if !bytes.Equal(h.Body, hits[0].Body) {
			tb.Errorf("body of attempt %d = %q, want %q (attempt 1)", i+2, h.Body, hits[0].Body)
		}
	}
}

// fast is the retry policy the tests use where they want our retries on:
// the defaults, with millisecond backoff so that a test takes no time.
var fast = retry.Policy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}

// wrap returns an http.Client over a transport of its own wrapped in the
// whole stack with retry policy rp; its idle connections are closed when
// the test ends.
func wrap(tb testing.TB, rp retry.Policy) *http.Client {
	tb.Helper()
	base := &http.Transport{}
	tb.Cleanup(base.CloseIdleConnections)
	c, err := transport.NewClient(&http.Client{Transport: base}, transport.Config{Default: transport.Policy{Retry: rp}})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// timed runs f and logs how long it took and how many requests the API
// received, the numbers the README reports.
func timed(tb testing.TB, a *api, scenario string, f func()) {
	tb.Helper()
	start := time.Now()
	f()
	tb.Logf("%s: %d hits in %v", scenario, a.Count(), time.Since(start).Round(time.Millisecond))
}
