package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/errclass"
)

// racer is a RoundTripper whose answer to each attempt a test scripts by
// attempt number; it records what each attempt's request looked like.
type racer struct {
	answer func(r *http.Request, a errclass.Attempt) (*http.Response, error)

	mu       sync.Mutex
	attempts []errclass.Attempt
	keys     []string
	bodies   []string
	ctxs     []context.Context
}

func (rc *racer) RoundTrip(r *http.Request) (*http.Response, error) {
	a := errclass.AttemptFromContext(r.Context())
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	rc.mu.Lock()
	rc.attempts = append(rc.attempts, a)
	rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
	rc.bodies = append(rc.bodies, string(body))
	rc.ctxs = append(rc.ctxs, r.Context())
	rc.mu.Unlock()
	return rc.answer(r, a)
}

func (rc *racer) calls() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.attempts)
}

// stall waits until the attempt's context ends, as a hung server does.
func stall(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, fmt.Errorf("stalled: %w", r.Context().Err())
}

// slowFirst is a first attempt slower than the hedge delay however late
// a loaded machine sends the hedge: it waits until hedged is closed (the
// hedge has come), then lingers for linger so the hedge's answer lands
// first; with no hedge it gives up waiting after wait. It ends early,
// with the context's error, when its attempt is canceled.
func slowFirst(r *http.Request, hedged <-chan struct{}, wait, linger time.Duration, resp *http.Response) (*http.Response, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-hedged:
	case <-t.C:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	if linger > 0 {
		t.Reset(linger)
		select {
		case <-t.C:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return resp, nil
}

// noHedgeWait is how long slowFirst waits for a hedge that should not
// come: a wrongly sent hedge (Delay of a few ms) shows up by then on an
// idle machine; on a loaded one the test can only pass wrongly, not fail.
// A hedge that should come is waited for up to hedgeWait.
const (
	noHedgeWait = 100 * time.Millisecond
	hedgeWait   = 10 * time.Second
)

// hedgeSeen returns a channel and a func that closes it once.
func hedgeSeen() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// closeBody is a body that reports being closed.
type closeBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *closeBody) Close() error { b.closed.Store(true); return nil }

func answer(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// hedgeRecorder is an observer that records hedges.
type hedgeRecorder struct {
	mu     sync.Mutex
	hedges []errclass.Attempt
	won    []bool
}

func (h *hedgeRecorder) Retrying(errclass.Outcome, errclass.Attempt)       {}
func (h *hedgeRecorder) GaveUp(errclass.Outcome, int, errclass.StopReason) {}
func (h *hedgeRecorder) Hedged(a errclass.Attempt, won bool) {
	h.mu.Lock()
	h.hedges = append(h.hedges, a)
	h.won = append(h.won, won)
	h.mu.Unlock()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// The first attempt stalls; the hedge answers. The caller gets the
// hedge's answer, the first attempt is canceled through its own context
// (not the caller's), and the hedge carries Attempt{Number: 2, Hedge:
// true}.
func TestHedgeStalledAttemptLoses(t *testing.T) {
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		if a.Number == 1 {
			return stall(r)
		}
		return answer(200, "hedge"), nil
	}}
	rec := &hedgeRecorder{}
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 10 * time.Millisecond}})
	ctx, cancel := context.WithCancel(errclass.WithObserver(context.Background(), rec))
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil)
	resp, err := tr.RoundTrip(req) // the first attempt stalls until canceled: only the hedge can answer
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hedge" {
		t.Errorf("body = %q, want the hedge's", b)
	}
	rc.mu.Lock()
	atts, ctxs := append([]errclass.Attempt(nil), rc.attempts...), append([]context.Context(nil), rc.ctxs...)
	rc.mu.Unlock()
	if len(atts) != 2 || atts[0] != (errclass.Attempt{Number: 1}) || atts[1] != (errclass.Attempt{Number: 2, Delay: 10 * time.Millisecond, Hedge: true}) {
		t.Errorf("attempts = %+v", atts)
	}
	waitFor(t, "the loser's context to be canceled", func() bool { return ctxs[0].Err() != nil })
	if ctx.Err() != nil {
		t.Error("the caller's context was canceled")
	}
	if !errors.Is(ctxs[0].Err(), context.Canceled) {
		t.Errorf("loser's context: %v", ctxs[0].Err())
	}
	if len(rec.hedges) != 1 || !rec.won[0] || !rec.hedges[0].Hedge {
		t.Errorf("Hedged calls = %+v %v", rec.hedges, rec.won)
	}
}

// The winner's body is still arriving when RoundTrip returns: canceling
// its context with the losers' would cut it (failsafe-go #65). Against a
// real server, the loser's handler sees its request canceled.
func TestHedgeWinnerBodyReadableAfterReturn(t *testing.T) {
	var hits atomic.Int32
	loserGone := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			<-r.Context().Done() // stalls until the client gives up on it
			close(loserGone)
			return
		}
		w.WriteHeader(200)
		io.WriteString(w, "first half,")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second half")
	}))
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()
	tr := New(base, Policy{Hedge: HedgePolicy{Delay: 20 * time.Millisecond}})
	req := httptest.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-loserGone:
	case <-time.After(5 * time.Second):
		t.Fatal("the loser's request was not canceled")
	}
	time.Sleep(20 * time.Millisecond) // give a wrong cancellation time to land
	close(release)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "first half,second half" {
		t.Errorf("winner's body after return = %q, %v", b, err)
	}
}

// A loser that answers after the race is decided has its body closed;
// retryable answers that came first (one superseded by the next, one
// kept until a winner came) are drained and closed too.
func TestHedgeLoserResponsesClosed(t *testing.T) {
	late := &closeBody{Reader: strings.NewReader("late")}
	early := &closeBody{Reader: strings.NewReader("busy")}
	later := &closeBody{Reader: strings.NewReader("down")}
	third := make(chan struct{})
	winnerGo := make(chan struct{})
	var supersededClosed atomic.Bool
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		switch a.Number {
		case 1:
			<-r.Context().Done() // answers anyway, once canceled
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: late, ContentLength: 4}, nil
		case 2:
			return &http.Response{StatusCode: 503, Header: http.Header{}, Body: early, ContentLength: 4}, nil
		case 3:
			defer close(third)
			return &http.Response{StatusCode: 502, Header: http.Header{}, Body: later, ContentLength: 4}, nil
		}
		<-third
		// The race has taken in the 502 by now, or takes it while this
		// waits: the 503 is superseded before the winner is known.
		for deadline := time.Now().Add(2 * time.Second); !early.closed.Load() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		supersededClosed.Store(early.closed.Load())
		close(winnerGo)
		return answer(200, "fourth"), nil
	}}
	tr := New(rc, Policy{MaxAttempts: 5, Hedge: HedgePolicy{Delay: 5 * time.Millisecond, Max: 3}})
	resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	if err != nil {
		t.Fatal(err)
	}
	<-winnerGo
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "fourth" {
		t.Errorf("body = %q: a retryable answer must not win", b)
	}
	if !supersededClosed.Load() {
		t.Error("a retryable answer superseded by another was not closed while the race went on")
	}
	waitFor(t, "the late loser's body to be closed", late.closed.Load)
	waitFor(t, "the kept retryable answer's body to be closed", later.closed.Load)
}

// Requests that may not be sent twice are never hedged; a POST with an
// Idempotency-Key is, with the same key and body on every attempt.
func TestHedgeOnlyIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    string
		method string
		want   int
	}{
		{"POST", "", http.MethodPost, 1},
		{"PATCH", "", http.MethodPatch, 1},
		{"POST with Idempotency-Key", "k-123", http.MethodPost, 2},
		{"PUT", "", http.MethodPut, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first attempt outlasts the hedge delay: until the hedge
			// comes when one is due, for noHedgeWait when none is.
			wait := map[bool]time.Duration{true: hedgeWait, false: noHedgeWait}[tc.want > 1]
			hedged, sawHedge := hedgeSeen()
			rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
				if a.Number == 1 {
					return slowFirst(r, hedged, wait, 0, answer(200, "first"))
				}
				sawHedge()
				return answer(200, "hedge"), nil
			}}
			tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}})
			req := httptest.NewRequest(tc.method, "http://127.0.0.1/", bytes.NewReader([]byte("payload")))
			if tc.key != "" {
				req.Header.Set("Idempotency-Key", tc.key)
			}
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("payload")), nil }
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			waitFor(t, "the attempts", func() bool { return rc.calls() >= tc.want })
			time.Sleep(70 * time.Millisecond) // any extra attempt would be there by now
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if len(rc.attempts) != tc.want {
				t.Fatalf("%d attempts, want %d", len(rc.attempts), tc.want)
			}
			for i := range rc.attempts {
				if rc.keys[i] != tc.key || rc.bodies[i] != "payload" {
					t.Errorf("attempt %d: key %q body %q", i+1, rc.keys[i], rc.bodies[i])
				}
			}
		})
	}
}

// A body that cannot be replayed is not hedged.
func TestHedgeNotReplayable(t *testing.T) {
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		time.Sleep(30 * time.Millisecond)
		return answer(200, ""), nil
	}}
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: time.Millisecond}})
	req := httptest.NewRequest(http.MethodPut, "http://127.0.0.1/", io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := rc.calls(); n != 1 {
		t.Errorf("%d attempts of an unreplayable body", n)
	}
}

// Hedges spend the retry budget: an exhausted budget sends none.
func TestHedgeBudgetExhausted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget *Budget
		want   int
	}{
		{"empty budget", NewBudget(0, 0, time.Second), 1},
		{"budget of one", NewBudget(0, 1, time.Second), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first attempt answers 50ms after the hedge the budget
			// allows (or after noHedgeWait if it allows none): time for the
			// hedges it refuses, 5ms apart, to show if they were sent.
			// Hedges stall, so none ends the race early.
			wait := map[bool]time.Duration{true: hedgeWait, false: noHedgeWait}[tc.want > 1]
			hedged, sawHedge := hedgeSeen()
			rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
				if a.Number == 1 {
					return slowFirst(r, hedged, wait, 50*time.Millisecond, answer(200, ""))
				}
				sawHedge()
				return stall(r)
			}}
			tr := New(rc, Policy{SharedBudget: tc.budget, Hedge: HedgePolicy{Delay: 5 * time.Millisecond, Max: 3}, MaxAttempts: 5})
			resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			time.Sleep(60 * time.Millisecond)
			if n := rc.calls(); n != tc.want {
				t.Errorf("%d attempts, want %d", n, tc.want)
			}
		})
	}
}

// Max bounds the hedges, and so does the attempt limit.
func TestHedgeMax(t *testing.T) {
	for _, tc := range []struct {
		name        string
		max, limit  int
		wantAttempt int
	}{
		{"max 2", 2, 5, 3},
		{"default max", 0, 5, 2},
		{"attempt limit", 3, 2, 2},
		{"one attempt", 3, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every attempt stalls. The caller gives up 50ms after the
			// last attempt it expects, time for more hedges (2ms apart) to
			// show if they were sent, and however late a loaded machine
			// sends the expected ones (and after hedgeWait if they never
			// come).
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			defer time.AfterFunc(hedgeWait, cancel).Stop()
			var rc *racer
			rc = &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
				if rc.calls() >= tc.wantAttempt {
					time.AfterFunc(50*time.Millisecond, cancel)
				}
				return stall(r)
			}}
			rec := &hedgeRecorder{}
			tr := New(rc, Policy{MaxAttempts: tc.limit, Hedge: HedgePolicy{Delay: 2 * time.Millisecond, Max: tc.max}, Observer: rec})
			_, err := tr.RoundTrip(httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil))
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want the caller's cancellation", err)
			}
			if n := rc.calls(); n != tc.wantAttempt {
				t.Errorf("%d attempts, want %d", n, tc.wantAttempt)
			}
			if len(rec.hedges) != tc.wantAttempt-1 {
				t.Errorf("observer heard %d hedges", len(rec.hedges))
			}
			for _, w := range rec.won {
				if w {
					t.Error("a hedge won a race nobody won")
				}
			}
		})
	}
}

// A retryable answer lets the other attempts go on; when all fail
// retryably the retry loop takes over, counting the hedges as attempts.
func TestHedgeRetryableAnswers(t *testing.T) {
	t.Run("slow success beats a fast 503", func(t *testing.T) {
		hedged, sawHedge := hedgeSeen()
		rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
			if a.Number == 1 { // answers 50ms after the hedge's 503
				return slowFirst(r, hedged, hedgeWait, 50*time.Millisecond, answer(200, "slow"))
			}
			sawHedge()
			return answer(503, ""), nil
		}}
		tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}})
		resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "slow" || rc.calls() != 2 {
			t.Errorf("got %d %q after %d attempts", resp.StatusCode, b, rc.calls())
		}
	})
	t.Run("all retryable, then retried", func(t *testing.T) {
		rec := &recorder{}
		hedged, sawHedge := hedgeSeen()
		rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
			switch a.Number {
			case 1: // both in flight, whichever answers first
				return slowFirst(r, hedged, hedgeWait, 0, answer(503, ""))
			case 2:
				sawHedge()
				return answer(502, ""), nil
			}
			return answer(200, "third"), nil
		}}
		tr := New(rc, Policy{BaseDelay: time.Millisecond, Hedge: HedgePolicy{Delay: 5 * time.Millisecond}, Observer: rec})
		resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || rc.calls() != 3 {
			t.Errorf("got %d after %d attempts", resp.StatusCode, rc.calls())
		}
		if len(rec.retries) != 1 || rec.retries[0].Number != 3 || rec.retries[0].Hedge {
			t.Errorf("retries = %+v", rec.retries)
		}
	})
	t.Run("attempt limit counts hedges", func(t *testing.T) {
		hedged, sawHedge := hedgeSeen()
		rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
			if a.Number == 1 {
				return slowFirst(r, hedged, hedgeWait, 0, answer(503, ""))
			}
			sawHedge()
			return answer(503, ""), nil
		}}
		tr := New(rc, Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, Hedge: HedgePolicy{Delay: 2 * time.Millisecond}})
		resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || rc.calls() != 3 {
			t.Errorf("got %d after %d attempts, want 503 after 3", resp.StatusCode, rc.calls())
		}
	})
}

// PrepareRetry runs for a hedge with its number; its error cancels only
// that hedge.
func TestHedgePrepareRetry(t *testing.T) {
	for _, fail := range []bool{false, true} {
		// The first attempt outlasts the hedge delay: when the hedge
		// comes, until the hedge's answer cancels it; when PrepareRetry
		// cancels the hedge, for noHedgeWait.
		wait := map[bool]time.Duration{false: hedgeWait, true: noHedgeWait}[fail]
		hedged, sawHedge := hedgeSeen()
		rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
			if a.Number == 1 {
				return slowFirst(r, hedged, wait, hedgeWait, answer(200, "first"))
			}
			sawHedge()
			if r.Header.Get("X-Attempt") != "2" {
				return answer(400, ""), nil
			}
			return answer(200, "hedge"), nil
		}}
		p := Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}, PrepareRetry: func(r *http.Request, n int) error {
			if fail {
				return errors.New("no signer")
			}
			r.Header.Set("X-Attempt", fmt.Sprint(n))
			return nil
		}}
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		resp, err := New(rc, p).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := map[bool]string{false: "hedge", true: "first"}[fail]
		if string(b) != want {
			t.Errorf("fail=%v: body %q, want %q", fail, b, want)
		}
		if req.Header.Get("X-Attempt") != "" {
			t.Error("PrepareRetry changed the caller's request")
		}
	}
}

// The caller's cancellation ends the race with the caller's error. The
// caller cancels once the hedge is sent, both attempts in flight (or
// after hedgeWait if it never comes).
func TestHedgeCallerCancels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer time.AfterFunc(hedgeWait, cancel).Stop()
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		if a.Hedge {
			cancel()
		}
		return stall(r)
	}}
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}})
	_, err := tr.RoundTrip(httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if n := rc.calls(); n != 2 {
		t.Errorf("%d attempts", n)
	}
}

// The samples behind a quantile delay are bounded and follow the
// latest latencies.
func TestHedgeLatencies(t *testing.T) {
	l := &latencies{q: 0.9}
	for i := range hedgeMinSamples - 1 {
		l.add(time.Duration(i) * time.Millisecond)
	}
	if l.cur.Load() != 0 {
		t.Error("a quantile before enough samples")
	}
	for range 1000 {
		l.add(time.Second)
	}
	if d := time.Duration(l.cur.Load()); d != time.Second {
		t.Errorf("quantile = %v, want 1s", d)
	}
	for i := range hedgeSamples {
		l.add(time.Duration(i+1) * time.Millisecond) // 1..128ms: the 1s samples age out
	}
	if d := time.Duration(l.cur.Load()); d != 116*time.Millisecond { // ceil(0.9*128) = 116th
		t.Errorf("quantile = %v, want 116ms", d)
	}
}

// A Quantile delay starts at Delay, then follows the route's latency
// (Delay remaining the floor), per route, for a bounded number of routes.
func TestHedgeQuantileDelay(t *testing.T) {
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		return answer(200, ""), nil
	}}
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 3 * time.Millisecond, Quantile: 0.5}})
	var now atomic.Int64
	tr.clock = func() time.Duration { return time.Duration(now.Add(int64(20 * time.Millisecond))) } // every attempt takes 20ms
	req := httptest.NewRequest(http.MethodGet, "http://a.example/", nil)
	if d, _ := tr.hedgeDelay(req); d != 3*time.Millisecond {
		t.Errorf("delay before samples = %v", d)
	}
	for range hedgeMinSamples {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if d, _ := tr.hedgeDelay(req); d != 20*time.Millisecond {
		t.Errorf("delay after %d samples = %v, want the measured 20ms", hedgeMinSamples, d)
	}
	other := httptest.NewRequest(http.MethodGet, "http://b.example/", nil)
	if d, _ := tr.hedgeDelay(other); d != 3*time.Millisecond {
		t.Errorf("another route's delay = %v", d)
	}
	tr.p.Hedge.Delay = time.Second
	if d, _ := tr.hedgeDelay(req); d != time.Second {
		t.Errorf("Delay is not the floor: %v", d)
	}
	for i := range 3 * hedgeRoutes {
		tr.hedgeDelay(httptest.NewRequest(http.MethodGet, fmt.Sprintf("http://h%d.example/", i), nil))
	}
	if n := tr.lat.Len(); n > hedgeRoutes {
		t.Errorf("%d routes kept", n)
	}
	if d, _ := New(rc, Policy{Hedge: HedgePolicy{Quantile: 0.9}}).hedgeDelay(req); d != DefaultHedgeDelay {
		t.Errorf("fallback without Delay = %v", d)
	}
}

// Zero HedgePolicy is off; Max alone turns nothing on.
func TestHedgePolicyDefaults(t *testing.T) {
	for _, tc := range []struct {
		in, want HedgePolicy
	}{
		{HedgePolicy{}, HedgePolicy{}},
		{HedgePolicy{Max: 3}, HedgePolicy{}},
		{HedgePolicy{Delay: time.Second}, HedgePolicy{Delay: time.Second, Max: 1}},
		{HedgePolicy{Quantile: 2, Max: 2}, HedgePolicy{Quantile: 1, Max: 2}},
	} {
		if got := tc.in.withDefaults(); got != tc.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// Hedging on costs requests that are not hedged nothing.
func TestHedgeOffPathDoesNotAllocate(t *testing.T) {
	stub := canned{&http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	tr := New(stub, Policy{Hedge: HedgePolicy{Delay: time.Second}})
	post := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if n := testing.AllocsPerRun(100, func() { tr.RoundTrip(post) }); n != 0 {
		t.Errorf("a POST through a hedging Transport allocates %v times", n)
	}
}

// Losers are canceled, not failed: a breaker below that opens on the
// first failure stays closed while every request is hedged.
func TestHedgeLoserNotCountedByBreaker(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1)%2 == 1 {
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()
	br := breaker.New(base, breaker.Policy{ConsecutiveFailures: 1, MinRequests: 1, FailureRatio: 0.01})
	tr := New(br, Policy{Hedge: HedgePolicy{Delay: 10 * time.Millisecond}})
	for i := range 10 {
		resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(50 * time.Millisecond) // let the losers' outcomes land
	for name, st := range br.States() {
		if st != breaker.StateClosed {
			t.Errorf("breaker %s is %v: a loser counted as a failure", name, st)
		}
	}
}

// Many concurrent hedged requests against a server where the first
// attempt of every tenth request stalls: every request gets its own
// answer, every stalled attempt is canceled (none waits out its stall),
// each stalled request is won by a hedge, and (with goleak in TestMain)
// nothing is left behind. Stalls are chosen by request and attempt number
// (sent in a header by the base transport), not by a global hit count or
// arrival order: on a slow machine hedges and first attempts interleave,
// and a hedge may reach the server before the attempt it hedges.
func TestHedgeConcurrent(t *testing.T) {
	const n = 200
	var stalled, canceled, waitedOut atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := r.URL.Query().Get("i")
		if r.Header.Get("X-Attempt") == "1" && strings.HasSuffix(i, "0") {
			stalled.Add(1)
			select {
			case <-r.Context().Done():
				canceled.Add(1)
				return
			case <-time.After(10 * time.Second):
				waitedOut.Add(1)
			}
		}
		io.WriteString(w, i)
	}))
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: n}
	defer base.CloseIdleConnections()
	numbered := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("X-Attempt", fmt.Sprint(errclass.AttemptFromContext(r.Context()).Number))
		return base.RoundTrip(r)
	})
	rec := &hedgeRecorder{}
	tr := New(numbered, Policy{Hedge: HedgePolicy{Delay: 250 * time.Millisecond, Max: 2}, Observer: rec,
		SharedBudget: NewBudget(2, 100, 10*time.Second)}) // room for every hedge: -race on 2 cores is slow
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("%s/?i=%d", srv.URL, i), nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || string(b) != fmt.Sprint(i) {
				errs <- fmt.Errorf("request %d: body %q, %v", i, b, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if stalled.Load() != n/10 {
		t.Fatalf("%d first attempts stalled, want %d", stalled.Load(), n/10)
	}
	waitFor(t, "every stalled attempt to end", func() bool { return canceled.Load()+waitedOut.Load() == stalled.Load() })
	if waitedOut.Load() != 0 {
		t.Errorf("%d stalled attempts ran their full stall: not hedged, or not canceled", waitedOut.Load())
	}
	rec.mu.Lock()
	won := 0
	for _, w := range rec.won {
		if w {
			won++
		}
	}
	hedges := len(rec.hedges)
	rec.mu.Unlock()
	t.Logf("%d stalled, %d hedges, %d won", stalled.Load(), hedges, won)
	if won < int(stalled.Load()) || hedges < won {
		t.Errorf("%d stalled, %d hedges, %d won: every stalled request is won by a hedge", stalled.Load(), hedges, won)
	}
}

// A GET whose first attempt hangs is answered by its hedge, sent 50ms
// later; the hung attempt is canceled.
func ExampleHedgePolicy() {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			<-r.Context().Done() // a server that hangs on this one
			return
		}
		io.WriteString(w, "fast answer")
	}))
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()

	client := &http.Client{Transport: New(base, Policy{
		Hedge: HedgePolicy{Delay: 50 * time.Millisecond}, // or Quantile: 0.95
	})}
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 fast answer
}

// BenchmarkHedgedSuccess is the cost of hedging a GET answered before
// its delay: a goroutine, a timer, a context and the body wrapper.
func BenchmarkHedgedSuccess(b *testing.B) {
	stub := canned{&http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	tr := New(stub, Policy{Hedge: HedgePolicy{Delay: time.Second}})
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}
