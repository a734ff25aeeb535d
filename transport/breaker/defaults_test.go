package breaker_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
)

// recovering is a server whose first fails attempts of every call answer
// 500 and whose later attempts answer 200: every call succeeds in the end.
// A call is named by its X-Call header, which retry copies to each attempt.
type recovering struct {
	*httptest.Server
	fails int
	mu    sync.Mutex
	seen  map[string]int // attempts per call
	hits  atomic.Int32
}

func newRecovering(t *testing.T, fails int) *recovering {
	t.Helper()
	s := &recovering{fails: fails, seen: make(map[string]int)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.seen[r.Header.Get("X-Call")]++
		n := s.seen[r.Header.Get("X-Call")]
		s.mu.Unlock()
		if n <= s.fails {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// defaultChain is retry → breaker → base with the default policies (only
// the backoff shortened, to keep the test fast).
func defaultChain(base http.RoundTripper) (http.RoundTripper, func() map[string]breaker.State) {
	var bt *breaker.Transport
	rt := transport.Chain(base,
		retry.Middleware(retry.Policy{BaseDelay: time.Millisecond}),
		func(next http.RoundTripper) http.RoundTripper {
			bt = breaker.Middleware(breaker.Policy{})(next).(*breaker.Transport)
			return bt
		},
	)
	return rt, bt.States
}

// The measured case of issue 13: a server failing every first attempt (or
// the first two) while every retry succeeds answers every call in the end.
// Under the old defaults (trip at 50 % of 20 attempts, open 30 s) 40 of
// 50 sequential calls were refused; the default breaker must refuse none.
func TestDefaultBreakerSparesServerThatRetriesRecover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fails   int // failed attempts per call, within retry's default 3
		workers int // concurrent callers (below 10 failures in a row)
	}{
		{"first attempt fails, sequential", 1, 1},
		{"first attempt fails, 5 concurrent", 1, 5},
		{"two attempts fail, sequential", 2, 1},
		{"two attempts fail, 3 concurrent", 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const calls = 50
			srv := newRecovering(t, tc.fails)
			rt, states := defaultChain(srv.Client().Transport)
			var refused, other atomic.Int32
			var firstErr atomic.Value
			var wg sync.WaitGroup
			var next atomic.Int32
			for range tc.workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > calls {
							return
						}
						req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
						req.Header.Set("X-Call", fmt.Sprint(i))
						resp, err := rt.RoundTrip(req)
						switch {
						case errors.Is(err, breaker.ErrOpen):
							refused.Add(1)
						case err != nil:
							other.Add(1)
							firstErr.CompareAndSwap(nil, err)
						default:
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode != http.StatusOK {
								other.Add(1)
								firstErr.CompareAndSwap(nil, fmt.Errorf("status %d", resp.StatusCode))
							}
						}
					}
				}()
			}
			wg.Wait()
			if n := refused.Load(); n != 0 {
				t.Errorf("%d of %d calls refused by the breaker, want 0: every call would have succeeded", n, calls)
			}
			if n := other.Load(); n != 0 {
				t.Errorf("%d calls failed otherwise, first: %v", n, firstErr.Load())
			}
			if got, want := srv.hits.Load(), int32(calls*(tc.fails+1)); got != want {
				t.Errorf("server saw %d attempts, want %d", got, want)
			}
			if st := states()[srv.URL]; st != breaker.StateClosed {
				t.Errorf("breaker state = %v, want closed", st)
			}
		})
	}
}

// A dead server still trips the default breaker fast: on its 10th failed
// attempt in a row (the 4th call of 3 attempts), after which calls fail
// fast for the default 5 s without reaching it.
func TestDefaultBreakerTripsOnDeadServer(t *testing.T) {
	srv := newRecovering(t, 1<<30) // never recovers
	rt, states := defaultChain(srv.Client().Transport)
	call := func() error {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	for i := range 3 { // 9 failed attempts
		if err := call(); err != nil {
			t.Fatalf("call %d: %v, want the last 500 after 3 attempts", i+1, err)
		}
	}
	if err := call(); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("4th call: error = %v, want ErrOpen once the 10th attempt failed", err)
	}
	if got := srv.hits.Load(); got != breaker.DefaultConsecutiveFailures {
		t.Errorf("server saw %d attempts, want %d", got, breaker.DefaultConsecutiveFailures)
	}
	err := call()
	var oe *breaker.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("5th call: error = %v, want an *OpenError", err)
	}
	// The documented 5 s, not the constant: a longer default break is what
	// made a wrong trip cost 30 s.
	if d := oe.RetryIn(); d <= 4*time.Second || d > 5*time.Second {
		t.Errorf("RetryIn() = %v, want about 5s", d)
	}
	if got := srv.hits.Load(); got != breaker.DefaultConsecutiveFailures {
		t.Errorf("server saw %d attempts after the trip, want none more", got-breaker.DefaultConsecutiveFailures)
	}
	if st := states()[srv.URL]; st != breaker.StateOpen {
		t.Errorf("breaker state = %v, want open", st)
	}
}

// pattern answers attempts from a repeating script of statuses.
type pattern struct {
	script []int
	n      atomic.Int32
}

func (p *pattern) RoundTrip(*http.Request) (*http.Response, error) {
	i := int(p.n.Add(1)-1) % len(p.script)
	return &http.Response{StatusCode: p.script[i], Header: http.Header{}, Body: http.NoBody}, nil
}

// The default failure ratio sits between what retries recover and what
// they cannot: 3 failures in 4 attempts (never 10 in a row) leave the
// breaker closed, 9 in 10 trip it as soon as 20 attempts are counted.
func TestDefaultFailureRatio(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   []int
		attempts int
		tripAt   int // attempt whose failure trips the breaker; 0: never
	}{
		{"75 % failures", []int{500, 500, 500, 200}, 400, 0},
		{"90 % failures", []int{500, 500, 500, 500, 500, 500, 500, 500, 500, 200}, 400, 21},
		// Exactly at the ratio: ≥ 80 % of ≥ 20 attempts trips, on the first
		// failure after the 20th attempt (17 of 21).
		{"80 % failures", []int{500, 500, 500, 500, 200}, 400, 21},
		// A dead server trips on 10 failures in a row, before 20 attempts.
		{"every attempt fails", []int{500}, 400, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := &pattern{script: tc.script}
			tr := breaker.New(stub, breaker.Policy{})
			tripped := 0
			for i := 1; i <= tc.attempts; i++ {
				resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://a.test/", nil))
				if errors.Is(err, breaker.ErrOpen) {
					tripped = i - 1
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			if tripped != tc.tripAt {
				t.Errorf("breaker tripped at attempt %d, want %d (0: never)", tripped, tc.tripAt)
			}
		})
	}
}
