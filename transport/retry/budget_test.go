package retry

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// statusRT answers every request with status, counting calls.
type statusRT struct {
	status int
	calls  atomic.Int64
}

func (s *statusRT) RoundTrip(*http.Request) (*http.Response, error) {
	s.calls.Add(1)
	return &http.Response{StatusCode: s.status, Header: http.Header{}, Body: http.NoBody}, nil
}

func runRequests(t *testing.T, tr *Transport, n int) {
	t.Helper()
	for range n {
		resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

func TestBudgetCapsRetriesUnderTotalFailure(t *testing.T) {
	down := &statusRT{status: 500}
	ft := newFakeTime()
	tr := newFake(down, Policy{MaxAttempts: 3, SharedBudget: newBudget(0.2, 0, 10*time.Second, ft.Now())}, ft)
	tr.sleep = func(context.Context, time.Duration) error { return nil } // all within one window
	runRequests(t, tr, 100)
	retries := down.calls.Load() - 100
	if retries != 20 {
		t.Errorf("retries for 100 failing requests = %d, want 20 (20%% budget), not up to 200", retries)
	}
}

func TestBudgetFloorAndRatio(t *testing.T) {
	now := 1000 * time.Second
	b := newBudget(DefaultBudgetRatio, DefaultBudgetMinPerSecond, DefaultBudgetWindow, now)
	for range 1000 {
		b.deposit()
	}
	allowed := 0
	for b.withdraw(now) {
		allowed++
	}
	// 20% of 1000 requests plus 10/s over 10s.
	if allowed != 300 {
		t.Errorf("allowed %d retries, want 300", allowed)
	}
}

func TestBudgetNotChargedForPermanentOutcomes(t *testing.T) {
	bad := &statusRT{status: 422}
	ft := newFakeTime()
	b := newBudget(0, 1, time.Second, ft.Now()) // exactly one retry per second
	tr := newFake(bad, Policy{SharedBudget: b}, ft)
	runRequests(t, tr, 50)
	if !b.withdraw(ft.Now()) {
		t.Error("50 requests ending in 422 used up the budget; terminal 4xx must cost nothing")
	}
}

func TestBudgetRefills(t *testing.T) {
	down := &statusRT{status: 503}
	ft := newFakeTime()
	b := newBudget(0, 1, 10*time.Second, ft.Now()) // 10 retries per 10s window
	tr := newFake(down, Policy{MaxAttempts: 2, SharedBudget: b}, ft)
	tr.sleep = func(context.Context, time.Duration) error { return nil }

	runRequests(t, tr, 30)
	if retries := down.calls.Load() - 30; retries != 10 {
		t.Fatalf("retries in the first window = %d, want 10", retries)
	}
	// Nothing succeeded, yet after a window the allowance is back.
	ft.Advance(11 * time.Second)
	down.calls.Store(0)
	runRequests(t, tr, 30)
	if retries := down.calls.Load() - 30; retries != 10 {
		t.Errorf("retries after the window slid = %d, want 10: the budget must refill", retries)
	}
}

func TestBudgetCountsWaitingRetries(t *testing.T) {
	down := &statusRT{status: 500}
	b := NewBudget(0, 1, time.Second) // one retry in flight or waiting at a time
	tr := New(down, Policy{MaxAttempts: 2, SharedBudget: b})
	release := make(chan struct{})
	var waiting atomic.Int32
	tr.sleep = func(ctx context.Context, d time.Duration) error {
		if waiting.Add(1) == 1 {
			<-release // only the first waiter blocks, so a regression fails instead of hanging
		}
		return nil
	}
	var wg sync.WaitGroup
	first := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		runRequests(t, tr, 1) // takes the only retry and waits in backoff
	}()
	go func() {
		for waiting.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		close(first)
	}()
	<-first
	// The retry above has not been sent yet, but it is charged: a second
	// failing request gets no retry and returns at once.
	runRequests(t, tr, 1)
	if waiting.Load() != 1 {
		t.Errorf("%d requests entered backoff, want 1", waiting.Load())
	}
	close(release)
	wg.Wait()
	if got := down.calls.Load(); got != 3 {
		t.Errorf("attempts = %d, want 3 (2 requests, 1 retry)", got)
	}
}

func TestBudgetConcurrentUse(t *testing.T) {
	b := NewBudget(0.5, 0, time.Minute)
	var wg sync.WaitGroup
	var granted atomic.Int64
	now := monotonic()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				b.deposit()
				if b.withdraw(now) {
					granted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if g := granted.Load(); g > 4000 {
		t.Errorf("granted %d retries for 8000 requests at ratio 0.5, want at most 4000", g)
	}
}

// Deposits read no clock: after a quiet spell they are counted from the
// first retry decision on, which errs towards fewer retries, never more.
func TestBudgetQuietSpellIsConservative(t *testing.T) {
	start := 1000 * time.Second
	b := newBudget(0.5, 0, 10*time.Second, start)
	for range 100 {
		b.deposit() // an hour of healthy traffic...
	}
	later := start + time.Hour
	if b.withdraw(later) {
		t.Fatal("retry allowed from traffic an hour old")
	}
	for range 10 {
		b.deposit() // ...then traffic during the failure
	}
	allowed := 0
	for b.withdraw(later) {
		allowed++
	}
	if allowed != 5 {
		t.Errorf("allowed %d retries after 10 requests at ratio 0.5, want 5", allowed)
	}
}

// The zero Budget is safe and allows no retries, like NewBudget(0, 0, 0).
func TestZeroBudget(t *testing.T) {
	down := &statusRT{status: 503}
	ft := newFakeTime()
	tr := newFake(down, Policy{MaxAttempts: 3, SharedBudget: &Budget{}}, ft)
	tr.sleep = func(context.Context, time.Duration) error { return nil }
	runRequests(t, tr, 5)
	if got := down.calls.Load(); got != 5 {
		t.Errorf("attempts for 5 failing requests = %d, want 5: the zero Budget allows no retries", got)
	}
	var b Budget
	b.deposit()
	if b.withdraw(ft.Now()) {
		t.Error("zero Budget allowed a retry")
	}
	like := NewBudget(0, 0, 0)
	for range 100 {
		like.deposit()
	}
	if like.withdraw(monotonic()) {
		t.Error("NewBudget(0, 0, 0) allowed a retry")
	}
}

// TestBudgetPolicyNew guards issue 13 item 6: a BudgetPolicy is data that
// builds the Budget it describes, the zero one the defaults, any other as
// written (zero meaning none, as NewBudget takes its arguments).
func TestBudgetPolicyNew(t *testing.T) {
	tests := []struct {
		name string
		p    BudgetPolicy
		want int // retries allowed after 1000 requests
	}{
		{"zero is the defaults", BudgetPolicy{}, 300}, // 20% of 1000 + 10/s over 10s
		{"floor alone", BudgetPolicy{MinPerSecond: 1, Window: 20 * time.Second}, 20},
		{"ratio alone", BudgetPolicy{Ratio: 0.5, Window: time.Minute}, 500},
		{"default window", BudgetPolicy{Ratio: 0.1, MinPerSecond: 2}, 100 + 2*10},
		{"negatives are zero", BudgetPolicy{Ratio: -1, MinPerSecond: -1}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.p.New()
			for range 1000 {
				b.deposit()
			}
			allowed := 0
			for now := monotonic(); allowed <= 2000 && b.withdraw(now); {
				allowed++
			}
			if allowed != tc.want {
				t.Errorf("%+v.New() allowed %d retries after 1000 requests, want %d", tc.p, allowed, tc.want)
			}
		})
	}
}

// TestPolicyBudgetPerTransport guards issue 13 item 6: a Policy holds no
// live budget, so two Transports built from one share nothing unless the
// caller gives them the same Budget.
func TestPolicyBudgetPerTransport(t *testing.T) {
	ft := newFakeTime()
	noWait := func(context.Context, time.Duration) error { return nil }
	p := Policy{MaxAttempts: 2, Budget: BudgetPolicy{MinPerSecond: 1, Window: 10 * time.Second}} // 10 retries
	downA, downB := &statusRT{status: 503}, &statusRT{status: 503}
	a, b := newFake(downA, p, ft), newFake(downB, p, ft)
	a.sleep, b.sleep = noWait, noWait
	runRequests(t, a, 20)
	if got := downA.calls.Load() - 20; got != 10 {
		t.Fatalf("retries through the first Transport = %d, want 10 (its budget)", got)
	}
	runRequests(t, b, 1)
	if got := downB.calls.Load(); got != 2 {
		t.Errorf("attempts through a second Transport from the same Policy = %d, want 2: it shares the first's budget", got)
	}

	// An explicit SharedBudget overrides Budget, and is what sharing takes.
	p.SharedBudget = &Budget{}
	down := &statusRT{status: 503}
	c := newFake(down, p, ft)
	c.sleep = noWait
	runRequests(t, c, 3)
	if got := down.calls.Load(); got != 3 {
		t.Errorf("attempts with Policy.SharedBudget = &Budget{} = %d, want 3: SharedBudget overrides Budget", got)
	}
}

// A withdrawal's check and charge are one step: racing withdrawals never
// take more than the allowance between them.
func TestBudgetWithdrawalsAreAtomic(t *testing.T) {
	for range 200 {
		b := newBudget(0, 1, 10*time.Second, time.Hour) // 10 retries, no requests needed
		var wg sync.WaitGroup
		var granted atomic.Int64
		start := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				<-start
				for range 20 { // bounded, should a broken budget never refuse
					if b.withdraw(time.Hour) {
						granted.Add(1)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if g := granted.Load(); g != 10 {
			t.Fatalf("racing withdrawals took %d retries, want the 10 allowed", g)
		}
	}
}

// A withdrawal that read the clock before another one made its own counts
// as of the later one: the window never slides back.
func TestBudgetStaleWithdrawal(t *testing.T) {
	start := time.Hour
	b := newBudget(1, 0, 10*time.Second, start)
	later := start + time.Minute
	if b.withdraw(later) {
		t.Fatal("retry allowed with no requests and no floor")
	}
	b.deposit() // counted at later
	if !b.withdraw(start) {
		t.Error("a withdrawal at an older reading did not see the request counted at the latest one")
	}
	if b.withdraw(later) {
		t.Error("the retry charged at an older reading was not charged at the latest one")
	}
}

// Deposits sit on every request's path: no lock to wait on, nothing
// allocated. Withdrawals allocate nothing either.
func TestBudgetAllocatesNothing(t *testing.T) {
	b := NewBudget(0.5, 1, time.Second)
	if n := testing.AllocsPerRun(100, b.deposit); n != 0 {
		t.Errorf("deposit allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { b.withdraw(monotonic()) }); n != 0 {
		t.Errorf("withdraw allocates %v times, want 0", n)
	}
	b.mu.Lock()
	done := make(chan struct{})
	go func() { b.deposit(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("deposit waited for a withdrawal's lock")
	}
	b.mu.Unlock()
	<-done
}

// TestBudgetNaNCountsAsZero: a NaN ratio or floor (a Config built in code:
// no policy file holds one) counts as zero, as a negative one does; it
// must not make every retry fit (NaN compares false), which would leave
// retries unbounded by the budget.
func TestBudgetNaNCountsAsZero(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name         string
		ratio, floor float64
		want         int
	}{
		{"NaN ratio", nan, 1, 10}, // the floor alone: 1/s over 10s
		{"NaN floor", 0.2, nan, 200},
		{"both NaN", nan, nan, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := 1000 * time.Second
			b := newBudget(tc.ratio, tc.floor, 10*time.Second, now)
			for range 1000 {
				b.deposit()
			}
			allowed := 0
			for allowed <= 2000 && b.withdraw(now) {
				allowed++
			}
			if allowed != tc.want {
				t.Errorf("allowed %d retries, want %d", allowed, tc.want)
			}
		})
	}
}
