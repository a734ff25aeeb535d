package resilienttest_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resilient-http/resilient/resilienttest"
	"github.com/resilient-http/resilient/transport/apierror"
	"github.com/resilient-http/resilient/transport/errclass"
)

// stub answers 200 with body; it counts calls and closed bodies.
type stub struct {
	mu           sync.Mutex
	calls        int
	body         string
	closedBodies int
}

func (s *stub) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Request: r,
		Body: &trackBody{Reader: strings.NewReader(s.body), s: s}}, nil
}

func (s *stub) closed() int { s.mu.Lock(); defer s.mu.Unlock(); return s.closedBodies }

type trackBody struct {
	io.Reader
	s    *stub
	once sync.Once
}

func (b *trackBody) Close() error {
	b.once.Do(func() { b.s.mu.Lock(); b.s.closedBodies++; b.s.mu.Unlock() })
	return nil
}

var mixed = resilienttest.Faults{
	Seed:     42,
	Latency:  resilienttest.LatencyFault{Rate: 0.2},
	Reset:    resilienttest.RateFault{Rate: 0.05},
	Status:   resilienttest.StatusFault{Rate: 0.1, Code: 429, RetryAfter: "2"},
	Stall:    resilienttest.BodyFault{Rate: 0.05},
	Truncate: resilienttest.BodyFault{Rate: 0.1, After: 1},
}

func run(t *testing.T, f resilienttest.Faults, n, workers int) resilienttest.Counts {
	t.Helper()
	in := resilienttest.Inject(&stub{body: "hello"}, f)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.test/", nil)
				resp, err := in.RoundTrip(req)
				cancel() // releases a stalled body
				if err == nil {
					io.ReadAll(resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	return in.Counts()
}

func TestRatesHonouredAndReproducible(t *testing.T) {
	const n = 2000
	got := run(t, mixed, n, 1)
	for _, c := range []struct {
		name string
		n    int64
		rate float64
	}{
		{"latency", got.Latencies, 0.2}, {"reset", got.Resets, 0.05}, {"status", got.Statuses, 0.1},
		{"stall", got.Stalls, 0.05}, {"truncate", got.Truncates, 0.1},
	} {
		want := c.rate * n
		if tol := 4 * math.Sqrt(want*(1-c.rate)); math.Abs(float64(c.n)-want) > tol {
			t.Errorf("%s: %d of %d requests, want %v ± %.0f", c.name, c.n, n, want, tol)
		}
	}
	if got.Requests != n {
		t.Errorf("Requests = %d, want %d", got.Requests, n)
	}
	if again := run(t, mixed, n, 1); again != got {
		t.Errorf("same seed, different counts: %+v then %+v", got, again)
	}
	other := mixed
	other.Seed++
	if run(t, other, n, 1) == got {
		t.Errorf("seeds 42 and 43 gave the same counts %+v", got)
	}
}

// Concurrent requests take the same draws as sequential ones: the counts
// match exactly (and -race checks the Injector's state).
func TestConcurrentCountsMatchSequential(t *testing.T) {
	if seq, conc := run(t, mixed, 2000, 1), run(t, mixed, 2000, 8); seq != conc {
		t.Errorf("8 goroutines: %+v, sequential: %+v", conc, seq)
	}
}

func TestStatusWithRetryAfter(t *testing.T) {
	s := &stub{}
	in := resilienttest.Inject(s, resilienttest.Faults{Status: resilienttest.StatusFault{Rate: 1, Code: 429, RetryAfter: "2"}})
	body := &closeCounter{Reader: strings.NewReader("payload")}
	req, _ := http.NewRequest(http.MethodPost, "http://example.test/v1/enhancements", body)
	req.Header.Set("X-Caller", "mine")
	resp, err := in.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 429 || s.calls != 0 || body.closed != 1 {
		t.Errorf("status %d, %d calls below, request body closed %d times; want 429, 0, 1", resp.StatusCode, s.calls, body.closed)
	}
	if d, ok := errclass.RetryAfter(resp, time.Now()); !ok || d != 2*time.Second {
		t.Errorf("errclass.RetryAfter = %v, %v; want 2s", d, ok)
	}
	if o := errclass.Classify(req, resp, nil); o.RetryAfter != 2*time.Second {
		t.Errorf("Classify RetryAfter = %v, want 2s", o.RetryAfter)
	}
	if len(req.Header) != 1 || req.Header.Get("X-Caller") != "mine" {
		t.Errorf("request headers changed: %v", req.Header)
	}
	var ae *apierror.Error
	if err := apierror.Decode(resp); !errors.As(err, &ae) || !errors.Is(err, apierror.ErrRateLimited) || ae.Detail != "Too Many Requests" {
		t.Errorf("apierror.Decode = %v, want the partner's 429 shape", err)
	}
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// A reset comes after the request went out: the answer below is closed,
// and errclass sees what it sees for a real reset.
func TestResetIsAmbiguous(t *testing.T) {
	s := &stub{body: "done"}
	in := resilienttest.Inject(s, resilienttest.Faults{Reset: resilienttest.RateFault{Rate: 1}})
	for _, tc := range []struct {
		method string
		class  errclass.Class
	}{{http.MethodGet, errclass.Retryable}, {http.MethodPost, errclass.Permanent}} {
		req, _ := http.NewRequest(tc.method, "http://example.test/", nil)
		resp, err := in.RoundTrip(req)
		if resp != nil || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s: %v, %v; want no response and a reset", tc.method, resp, err)
		}
		o := errclass.Classify(req, nil, err)
		if o.Delivery != errclass.Ambiguous || o.Class != tc.class || !o.ServerFault {
			t.Errorf("%s: Classify = %+v, want %v, ambiguous, server fault", tc.method, o, tc.class)
		}
	}
	if s.calls != 2 || s.closed() != 2 {
		t.Errorf("%d calls below, %d answers closed; want 2, 2", s.calls, s.closed())
	}
}

func TestTruncatedBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		after      int
		want       string
	}{{"cut", "hello world", 5, "hello"}, {"cut at once", "hello", 0, ""}, {"shorter than After", "hi", 10, "hi"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &stub{body: tc.body}
			in := resilienttest.Inject(s, resilienttest.Faults{Truncate: resilienttest.BodyFault{Rate: 1, After: tc.after}})
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/", nil)
			resp, err := in.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			if string(b) != tc.want || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("ReadAll = %q, %v; want %q, unexpected EOF", b, err, tc.want)
			}
			resp.Body.Close()
			if s.closed() != 1 {
				t.Errorf("Close reached the real body %d times, want 1", s.closed())
			}
		})
	}
}

func TestStalledBodyReleased(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			s := &stub{body: "hello world"}
			in := resilienttest.Inject(s, resilienttest.Faults{Stall: resilienttest.BodyFault{Rate: 1, After: 3}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.test/", nil)
			resp, err := in.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { resp.Body.Close() }) // frees the reader if the release failed
			done := make(chan struct{})
			var b []byte
			go func() { defer close(done); b, err = io.ReadAll(resp.Body) }()
			select {
			case <-done:
				t.Fatalf("ReadAll returned %q, %v; want it to block after 3 bytes", b, err)
			case <-time.After(30 * time.Millisecond):
			}
			if how == "cancel" {
				cancel()
			} else {
				resp.Body.Close()
			}
			resilienttest.Within(t, 5*time.Second, func() { <-done })
			if string(b) != "hel" || err == nil || (how == "cancel") != errors.Is(err, context.Canceled) {
				t.Errorf("ReadAll = %q, %v; want \"hel\" and the %s's error", b, err, how)
			}
			resp.Body.Close()
			if s.closed() != 1 {
				t.Errorf("the real body closed %d times, want 1", s.closed())
			}
		})
	}
}

func TestLatency(t *testing.T) {
	in := resilienttest.Inject(&stub{}, resilienttest.Faults{Latency: resilienttest.LatencyFault{Rate: 1, Delay: 20 * time.Millisecond}})
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	start := time.Now()
	resp, err := in.RoundTrip(req)
	if err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("RoundTrip: %v after %v, want a response after 20ms", err, time.Since(start))
	}
	resp.Body.Close()
	// A context that ends during the delay: nothing sent, its error back.
	s := &stub{}
	in = resilienttest.Inject(s, resilienttest.Faults{Latency: resilienttest.LatencyFault{Rate: 1, Delay: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://example.test/", nil)
	if _, err := in.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) || s.calls != 0 {
		t.Errorf("RoundTrip = %v with %d calls below, want the deadline and none", err, s.calls)
	}
}

func TestInjectRejectsBadRates(t *testing.T) {
	for name, f := range map[string]resilienttest.Faults{
		"negative": {Reset: resilienttest.RateFault{Rate: -0.1}},
		"above 1":  {Latency: resilienttest.LatencyFault{Rate: 1.5}},
		"NaN":      {Stall: resilienttest.BodyFault{Rate: math.NaN()}},
		"sum > 1":  {Reset: resilienttest.RateFault{Rate: 0.6}, Status: resilienttest.StatusFault{Rate: 0.6}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Inject did not panic", name)
				}
			}()
			resilienttest.Inject(nil, f)
		}()
	}
	// Latency is not in the sum.
	resilienttest.Inject(nil, resilienttest.Faults{Latency: resilienttest.LatencyFault{Rate: 1}, Reset: resilienttest.RateFault{Rate: 1}})
}

// A reset loses the answer at once, whatever its body does: over a
// server whose body stalls, RoundTrip must not wait for that body.
func TestResetDoesNotWaitForBody(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.Stall(http.StatusOK, 1000, 10))
	in := resilienttest.Inject(nil, resilienttest.Faults{Reset: resilienttest.RateFault{Rate: 1}})
	client := &http.Client{Transport: in}
	defer client.CloseIdleConnections()
	resilienttest.Within(t, 5*time.Second, func() {
		if _, err := client.Get(srv.URL); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Get() err = %v, want a connection reset", err)
		}
	})
	if c := in.Counts(); c.Resets != 1 {
		t.Errorf("Counts().Resets = %d, want 1", c.Resets)
	}
}
