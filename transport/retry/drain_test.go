package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/internal/faultserver"
)

// hangLimit is how long a call that discards a stalled response may take
// before the test calls it hung. Discarding waits 200ms at most (drainTimeout
// and closeTimeout); the rest is margin for a loaded CI machine. Without a
// bound the calls below take forever, or 100 s for the drip.
const hangLimit = 5 * time.Second

// roundTripWithin sends req through rt and fails the test if no answer
// comes within limit, so that a hang fails instead of stalling the suite.
// The abandoned call ends at cleanup, when the fault server (from
// transport/internal/faultserver) or the stub body lets go.
func roundTripWithin(t *testing.T, rt http.RoundTripper, req *http.Request, limit time.Duration) (*http.Response, error) {
	t.Helper()
	type answer struct {
		resp *http.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := rt.RoundTrip(req)
		done <- answer{resp, err}
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case a := <-done:
		return a.resp, a.err
	case <-timer.C:
		t.Fatalf("RoundTrip() still running after %v: discarding a response hangs", limit)
		return nil, nil
	}
}

func TestDiscardDoesNotWaitOnNetwork(t *testing.T) {
	// Issue 12, item 1: the stalled body hung the call forever, the drip
	// (10 000 bytes, one every 10ms) for 100 s.
	tests := []struct {
		name  string
		fault http.Handler
	}{
		{"stall after one byte", faultserver.Stall(http.StatusServiceUnavailable, 1000, 1)},
		{"drip a byte every 10ms", faultserver.Drip(http.StatusServiceUnavailable, 10000, 10*time.Millisecond)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := faultserver.New(t, faultserver.Script(tc.fault, faultserver.Reply(http.StatusOK, "ok")))
			tr := newFake(srv.Client().Transport, Policy{}, newFakeTime())
			resp, err := roundTripWithin(t, tr, httptest.NewRequest(http.MethodGet, srv.URL, nil), hangLimit)
			if err != nil {
				t.Fatalf("RoundTrip() error = %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != "ok" || srv.Hits() != 2 {
				t.Errorf("RoundTrip() = %d %q after %d attempts, want 200 ok after 2", resp.StatusCode, b, srv.Hits())
			}
			if n := srv.Conns(); n != 2 {
				t.Errorf("server saw %d connections, want 2 (the stalled one closed)", n)
			}
		})
	}
}

func TestDiscardWaitsForQuickPieces(t *testing.T) {
	// A body arriving in three pieces 5ms apart is drained, not cut: its
	// connection serves the next attempt. Catches a drain that takes only
	// what is already buffered, or none at all.
	pieces := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const piece = 1024
		w.Header().Set("Content-Length", strconv.Itoa(3*piece))
		w.WriteHeader(http.StatusServiceUnavailable)
		rc := http.NewResponseController(w)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := range 3 {
			if i > 0 {
				select {
				case <-tick.C:
				case <-r.Context().Done():
					return
				}
			}
			w.Write(make([]byte, piece))
			rc.Flush()
		}
	})
	srv := faultserver.New(t, faultserver.Script(pieces, faultserver.Reply(http.StatusOK, "ok")))
	tr := newFake(srv.Client().Transport, Policy{}, newFakeTime())
	// The mechanism, not the bound: on a loaded CI machine the pieces can
	// come 100ms late.
	tr.drainWait = 10 * time.Second
	resp, err := roundTripWithin(t, tr, httptest.NewRequest(http.MethodGet, srv.URL, nil), hangLimit)
	if err != nil {
		t.Fatalf("RoundTrip() error = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || srv.Hits() != 2 {
		t.Fatalf("RoundTrip() = %d after %d attempts, want 200 after 2", resp.StatusCode, srv.Hits())
	}
	if n := srv.Conns(); n != 1 {
		t.Errorf("server saw %d connections, want 1 (the drained one reused)", n)
	}
}

// deaf is a response body whose Read blocks until the test ends, whatever
// Close says: a broken RoundTripper's body.
type deaf struct {
	release chan struct{}
	closed  atomic.Bool
}

func (d *deaf) Read(p []byte) (int, error) { <-d.release; return 0, io.EOF }
func (d *deaf) Close() error               { d.closed.Store(true); return nil }

func TestDiscardBodyIgnoringClose(t *testing.T) {
	// Catches an unbounded wait for the draining goroutine after Close.
	body := &deaf{release: make(chan struct{})}
	t.Cleanup(func() { close(body.release) }) // lets the goroutine go, for goleak
	calls := 0
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 1 {
			return &http.Response{StatusCode: 503, Header: http.Header{}, ContentLength: -1, Body: body}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	})
	tr := newFake(stub, Policy{}, newFakeTime())
	resp, err := roundTripWithin(t, tr, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil), hangLimit)
	if err != nil {
		t.Fatalf("RoundTrip() error = %v", err)
	}
	if resp.StatusCode != 200 || !body.closed.Load() {
		t.Errorf("RoundTrip() = %d, body closed %v; want 200 and the body closed", resp.StatusCode, body.closed.Load())
	}
}

// stalled is a response body whose Read blocks until Close, as net/http's
// do when no byte comes. started is closed by the first Read. It is closed
// at the end of the test, so that a Read left blocked by a failure ends.
type stalled struct {
	started, closed      chan struct{}
	startOnce, closeOnce sync.Once
}

func newStalled(t *testing.T) *stalled {
	s := &stalled{started: make(chan struct{}), closed: make(chan struct{})}
	t.Cleanup(func() { s.Close() })
	return s
}

func (s *stalled) Read(p []byte) (int, error) {
	s.startOnce.Do(func() { close(s.started) })
	<-s.closed
	return 0, net.ErrClosed
}

func (s *stalled) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func TestDiscardStopsWhenCanceled(t *testing.T) {
	// The caller cancels while the discarded body stalls: the drain stops
	// at once, whatever its own bound. Catches a drain that watches only
	// its timer (here a minute long).
	body := newStalled(t)
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 503, Header: http.Header{}, ContentLength: -1, Body: body}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-body.started
		cancel()
	}()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil).WithContext(ctx)
	tr := newFake(stub, Policy{}, newFakeTime())
	tr.drainWait = time.Minute
	_, err := roundTripWithin(t, tr, req, hangLimit)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip() error = %v, want context.Canceled", err)
	}
	select {
	case <-body.closed:
	default:
		t.Error("discarded body was not closed")
	}
}

// cancelOnRetry is an observer that cancels the request when a retry is
// decided, before the discarded response is drained.
type cancelOnRetry struct{ cancel context.CancelFunc }

func (c cancelOnRetry) Retrying(errclass.Outcome, errclass.Attempt)       { c.cancel() }
func (c cancelOnRetry) GaveUp(errclass.Outcome, int, errclass.StopReason) {}

func TestDiscardClosesWithoutReading(t *testing.T) {
	// Nothing is read when nothing can come (Content-Length 0) or nobody
	// waits for it (the caller's context is done): catches either check
	// removed, as the endless body answers a Read at once.
	tests := []struct {
		name          string
		contentLength int64
		cancel        bool
	}{
		{"Content-Length 0", 0, false},
		{"context done", -1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := &endless{}
			calls := 0
			stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				calls++
				if calls == 1 {
					return &http.Response{StatusCode: 503, Header: http.Header{}, ContentLength: tc.contentLength, Body: body}, nil
				}
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				ctx = errclass.WithObserver(ctx, cancelOnRetry{cancel})
			}
			req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil).WithContext(ctx)
			tr := newFake(stub, Policy{}, newFakeTime())
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			if n := body.read.Load(); n != 0 || !body.closed.Load() {
				t.Errorf("discarded body: read %d bytes, closed %v; want 0 read and closed", n, body.closed.Load())
			}
		})
	}
}

func TestDrainCountsTowardWait(t *testing.T) {
	// A 1s Retry-After and a stalled body cut after 30ms: the wait that
	// follows is what remains of the second, so the next attempt starts
	// when planned. Catches the drain time added on top of the wait.
	calls := 0
	body := newStalled(t)
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 1 {
			h := http.Header{"Retry-After": {"1"}}
			return &http.Response{StatusCode: 503, Header: h, ContentLength: -1, Body: body}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	})
	// Real clock, so that draining takes time; waits recorded, not slept.
	tr := New(stub, Policy{})
	tr.drainWait = 30 * time.Millisecond
	var waits []time.Duration
	tr.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	resp, err := roundTripWithin(t, tr, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil), hangLimit)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip() = %v, %v; want 200", resp, err)
	}
	if len(waits) != 1 || waits[0] > time.Second-tr.drainWait {
		t.Errorf("waits = %v, want one of at most 1s - %v (the drain's share)", waits, tr.drainWait)
	}
}

func TestDrainBoundKeepsReceivedBody(t *testing.T) {
	// With the production bound, a 503 whose body came in the same packet
	// as its headers is drained and its connection serves the retry: only
	// the draining goroutine has to run in time. Catches a bound too small
	// to be of use (0). The server writes the whole response at once on a
	// hijacked connection, then reads the retry from it if it comes.
	var reused atomic.Bool
	once := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack() error = %v", err)
			return
		}
		defer conn.Close()
		stop := context.AfterFunc(r.Context(), func() { conn.Close() }) // the test's end
		defer stop()
		const head = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1024\r\n\r\n"
		if _, err := conn.Write(append([]byte(head), make([]byte, 1024)...)); err != nil {
			return
		}
		if _, err := http.ReadRequest(rw.Reader); err != nil {
			return // the client cut the connection
		}
		reused.Store(true)
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	})
	srv := faultserver.New(t, faultserver.Script(once, faultserver.Reply(http.StatusOK, "ok")))
	tr := newFake(srv.Client().Transport, Policy{}, newFakeTime())
	resp, err := roundTripWithin(t, tr, httptest.NewRequest(http.MethodGet, srv.URL, nil), hangLimit)
	if err != nil {
		t.Fatalf("RoundTrip() error = %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("RoundTrip() = %d %q, want 200 ok", resp.StatusCode, b)
	}
	if !reused.Load() || srv.Conns() != 1 {
		t.Errorf("retry on the drained connection: %v (%d connections), want it reused", reused.Load(), srv.Conns())
	}
}

// drainingClose is a response body whose Close reads on to drain it, as
// wrappers often do, and so blocks as long as its Read: here until the test
// ends.
type drainingClose struct{ release chan struct{} }

func (d *drainingClose) Read(p []byte) (int, error) { <-d.release; return 0, io.EOF }
func (d *drainingClose) Close() error               { <-d.release; return nil }

func TestDiscardBodyWhoseCloseBlocks(t *testing.T) {
	// Catches a Close made on the request's goroutine: the call would wait
	// for the body as long as the network stalls.
	body := &drainingClose{release: make(chan struct{})}
	t.Cleanup(func() { close(body.release) }) // lets the goroutines go, for goleak
	calls := 0
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 1 {
			return &http.Response{StatusCode: 503, Header: http.Header{}, ContentLength: -1, Body: body}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	})
	tr := newFake(stub, Policy{}, newFakeTime())
	resp, err := roundTripWithin(t, tr, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil), hangLimit)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip() = %v, %v; want the second attempt's 200", resp, err)
	}
}

// blocking is a response body whose Read waits until it is closed, as a
// stalled net/http body does.
type blocking struct {
	once sync.Once
	done chan struct{}
}

func (b *blocking) Read(p []byte) (int, error) { <-b.done; return 0, net.ErrClosed }
func (b *blocking) Close() error               { b.once.Do(func() { close(b.done) }); return nil }

func TestDiscardWaitsAtMost100ms(t *testing.T) {
	// The README promises a discarded body is drained for at most 100 ms,
	// then closed. The backoff sleeps are fake, so the call's real time is
	// the drain's; 1 s leaves a loaded machine ten times the bound.
	var calls atomic.Int32
	next := roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if calls.Add(1) == 1 {
			return &http.Response{StatusCode: 503, ContentLength: -1, Body: &blocking{done: make(chan struct{})}, Request: req}, nil
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
	})
	tr := newFake(next, Policy{}, newFakeTime())
	start := time.Now()
	resp, err := roundTripWithin(t, tr, httptest.NewRequest(http.MethodGet, "http://example.com/", nil), hangLimit)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("RoundTrip() error = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || elapsed > time.Second {
		t.Errorf("RoundTrip() = %d after %v with a stalled discarded body, want 200 within 1s (drained 100ms at most)", resp.StatusCode, elapsed)
	}
}
