package breaker

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// monoClock is a settable monotonic clock for the windows.
type monoClock struct{ now atomic.Int64 }

func (c *monoClock) read() time.Duration     { return time.Duration(c.now.Load()) }
func (c *monoClock) advance(d time.Duration) { c.now.Add(int64(d)) }

func withClock(tr *Transport) *monoClock {
	c := &monoClock{}
	c.now.Store(int64(time.Hour)) // any start will do; not zero, to catch slot-0 mix-ups
	tr.registry().clock = c.read
	return c
}

func TestWindowForgetsOldOutcomes(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{Window: 10 * time.Second, MinRequests: 20, FailureRatio: 0.5, ConsecutiveFailures: 1000})
	clk := withClock(tr)
	stub.fail.Store(true)
	for range 15 { // 15 failures: below MinRequests
		get(t, tr, "http://a.test/")
	}
	clk.advance(9500 * time.Millisecond) // still inside the window (bucket 9 of 10)
	stub.fail.Store(false)
	for range 4 {
		get(t, tr, "http://a.test/")
	}
	stub.fail.Store(true)
	get(t, tr, "http://a.test/") // 16 of 20 failed
	if st := tr.States()["http://a.test"]; st != StateOpen {
		t.Fatalf("16 failures of 20 within the window: state %v, want open", st)
	}

	stub2 := &flip{}
	tr = New(stub2, Policy{Window: 10 * time.Second, MinRequests: 20, FailureRatio: 0.5, ConsecutiveFailures: 1000})
	clk = withClock(tr)
	stub2.fail.Store(true)
	for range 15 {
		get(t, tr, "http://a.test/")
	}
	clk.advance(11 * time.Second) // the 15 failures have left the window
	stub2.fail.Store(false)
	for range 10 {
		get(t, tr, "http://a.test/")
	}
	stub2.fail.Store(true)
	for range 9 { // 9 of 19 in the window: below MinRequests; 24 of 34 if the old ones counted
		get(t, tr, "http://a.test/")
	}
	if st := tr.States()["http://a.test"]; st != StateClosed {
		t.Fatalf("failures older than the window still counted: state %v, want closed", st)
	}
	get(t, tr, "http://a.test/") // 10 of 20
	if st := tr.States()["http://a.test"]; st != StateOpen {
		t.Fatalf("10 failures of 20 in the window: state %v, want open", st)
	}
}

func TestClosingStartsAFreshWindow(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{MinRequests: 4, FailureRatio: 0.5, ConsecutiveFailures: 1000, OpenTimeout: 20 * time.Millisecond})
	withClock(tr) // frozen: only a reset can empty the window
	stub.fail.Store(true)
	for range 4 {
		get(t, tr, "http://a.test/")
	}
	if st := tr.States()["http://a.test"]; st != StateOpen {
		t.Fatalf("state after 4 failures of 4 = %v, want open", st)
	}
	time.Sleep(30 * time.Millisecond)
	stub.fail.Store(false)
	if _, err := get(t, tr, "http://a.test/"); err != nil { // the probe
		t.Fatal(err)
	}
	stub.fail.Store(true)
	get(t, tr, "http://a.test/")
	if st := tr.States()["http://a.test"]; st != StateClosed {
		t.Errorf("one failure after closing: state %v, want closed (the old window's failures are gone)", st)
	}
}

func TestConsecutiveFailuresResetBySuccess(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{ConsecutiveFailures: 3, MinRequests: 1000})
	for i := range 20 { // fail, fail, succeed, ...: never three in a row
		stub.fail.Store(i%3 != 2)
		if _, err := get(t, tr, "http://a.test/"); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	stub.fail.Store(true)
	get(t, tr, "http://a.test/") // fail, fail after the last success... and a third:
	get(t, tr, "http://a.test/")
	if _, err := get(t, tr, "http://a.test/"); !errors.Is(err, ErrOpen) {
		t.Errorf("after 3 failures in a row: %v, want ErrOpen", err)
	}
}

func TestStaleFailureNotCounted(t *testing.T) {
	tr := New(&flip{}, Policy{ConsecutiveFailures: 1})
	e := tr.registry().get(key{scheme: "http", host: "a.test"})
	gen := e.gen.Load()
	e.gen.Add(1) // as if the breaker had opened and closed meanwhile
	tr.registry().fail(e, gen)
	if n := e.consec.Load(); n != 0 {
		t.Errorf("consecutive failures = %d, want 0", n)
	}
	if _, fail := e.win.counts(tr.registry().clock()); fail != 0 {
		t.Errorf("window failures = %d, want 0", fail)
	}
	if st := e.cb.State(); st != StateClosed {
		t.Errorf("state = %v, want closed", st)
	}
}

type panicky struct{}

func (panicky) RoundTrip(*http.Request) (*http.Response, error) { panic("base transport bug") }

func TestPanicCountsAsFailure(t *testing.T) {
	tr := New(panicky{}, Policy{ConsecutiveFailures: 1})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the base transport's panic was swallowed")
			}
		}()
		get(t, tr, "http://a.test/")
	}()
	if _, err := get(t, tr, "http://a.test/"); !errors.Is(err, ErrOpen) {
		t.Errorf("after a panic with ConsecutiveFailures 1: %v, want ErrOpen", err)
	}
}

func TestWindowCountsConcurrentlyAndExactly(t *testing.T) {
	w := newWindow(10*time.Second, 10)
	now := 5 * time.Second
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				w.success(now)
				w.failure(now + time.Second)
			}
		})
	}
	wg.Wait()
	if ok, fail := w.counts(now + time.Second); ok != 8000 || fail != 8000 {
		t.Errorf("counts = %d, %d; want 8000, 8000", ok, fail)
	}
	// A bucket reused for a later slot starts from zero.
	w.success(now + 10*time.Second)
	if ok, fail := w.counts(now + 10*time.Second); ok != 1 || fail != 8000 {
		t.Errorf("after the ring wrapped: %d, %d; want 1, 8000", ok, fail)
	}
	// An event for a slot the bucket has already left behind is dropped.
	w.success(now)
	if ok, _ := w.counts(now + 10*time.Second); ok != 1 {
		t.Errorf("a late event was counted: ok = %d, want 1", ok)
	}
}

// Counts past 2^32 (a window of many full buckets) stop there rather than
// wrap to small numbers that would read as a healthy host.
func TestClamp32Saturates(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want uint32
	}{
		{5, 5}, {math.MaxUint32, math.MaxUint32}, {1<<32 + 5, math.MaxUint32},
	} {
		if got := clamp32(tc.in); got != tc.want {
			t.Errorf("clamp32(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// The breaker trips exactly when a plain model of the policy says so: a
// rolling window of ten one-second slots (the current one and the nine
// before it) and a run of consecutive failures, over random sequences of
// outcomes and clock steps.
func TestTripsWhenTheModelSays(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := Policy{Window: 10 * time.Second, MinRequests: 10, FailureRatio: 0.5, ConsecutiveFailures: 6, OpenTimeout: time.Hour}
	var byRun, byRate, never int
	for seq := range 300 {
		stub := &flip{}
		tr := New(stub, p)
		clk := withClock(tr)
		type event struct {
			slot int64
			fail bool
		}
		var events []event
		run := 0
		// A third of the sequences fail in bursts (long runs, a low
		// overall rate), a third fail often, a third seldom.
		mode := seq % 3
		failRate := []float64{0.05, 0.3 + 0.5*rng.Float64(), 0.05 * rng.Float64()}[mode]
		last, tripped := false, false
		for i := range 150 {
			clk.advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
			fail := rng.Float64() < failRate
			if mode == 0 && last {
				fail = rng.Float64() < 0.9
			}
			last = fail
			stub.fail.Store(fail)
			if _, err := get(t, tr, "http://a.test/"); err != nil {
				t.Fatalf("sequence %d, call %d: refused (%v) though the model never tripped", seq, i, err)
			}
			slot := int64(clk.read() / time.Second)
			events = append(events, event{slot, fail})
			if !fail {
				run = 0
				continue
			}
			run++
			var n, f int
			for _, e := range events {
				if slot-e.slot < 10 {
					n++
					if e.fail {
						f++
					}
				}
			}
			want := run >= int(p.ConsecutiveFailures) || n >= int(p.MinRequests) && float64(f) >= p.FailureRatio*float64(n)
			got := tr.States()["http://a.test"] == StateOpen
			if got != want {
				t.Fatalf("sequence %d, call %d: open = %v, model says %v (run %d, %d failures of %d in the window)", seq, i, got, want, run, f, n)
			}
			if got {
				if run >= int(p.ConsecutiveFailures) {
					byRun++
				} else {
					byRate++
				}
				tripped = true
				break
			}
		}
		if !tripped {
			never++
		}
	}
	if byRun < 10 || byRate < 10 || never < 10 {
		t.Errorf("tripped by a run %d times, by the rate %d, never %d: the sequences do not exercise every case", byRun, byRate, never)
	}
}

// BenchmarkSuccessPath measures a closed breaker's success path, where the
// window does its counting: one Add per call, no lock, no allocation.
func BenchmarkSuccessPath(b *testing.B) {
	stub := canned{&http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	tr := New(stub, Policy{})
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tr.RoundTrip(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWindow measures the window alone: an event counted, and the
// counts read as a failure does before asking whether to trip.
func BenchmarkWindow(b *testing.B) {
	w := newWindow(10*time.Second, windowBuckets)
	b.Run("success", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.success(sinceEpoch())
		}
	})
	b.Run("counts", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.counts(sinceEpoch())
		}
	})
}

// A success of a request sent before the breaker changed state is dropped,
// as a late failure is: it says nothing of the new generation, and must
// not end its run of failures. Mutation: counting a success without
// checking its generation resets the run to 0.
func TestStaleSuccessNotCounted(t *testing.T) {
	var e *entry
	next := rtFunc(func(*http.Request) (*http.Response, error) {
		e.gen.Add(1)      // as if the breaker had opened and closed meanwhile
		e.consec.Store(2) // and the new generation had failed twice
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})
	tr := New(next, Policy{ConsecutiveFailures: 3})
	e = tr.registry().get(key{scheme: "http", host: "a.test"})
	if err := roundTrip(t, tr, "http://a.test/"); err != nil {
		t.Fatal(err)
	}
	if n := e.consec.Load(); n != 2 {
		t.Errorf("failures in a row after a stale success = %d, want 2", n)
	}
	if ok, _ := e.win.counts(tr.registry().clock()); ok != 0 {
		t.Errorf("window successes = %d, want 0", ok)
	}
}
