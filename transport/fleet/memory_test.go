package fleet

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUntilSharedAcrossReplicas(t *testing.T) {
	m := NewMemory()
	a, b := m.Replica(), m.Replica()
	until := time.Now().Add(time.Minute)
	a.SetUntil(KindCredits, "POST /batch", until)
	if got := b.Until(KindCredits, "POST /batch"); !got.Equal(until) {
		t.Fatalf("b.Until() = %v, want %v", got, until)
	}
	if got := b.Until(KindBreaker, "POST /batch"); !got.IsZero() {
		t.Fatalf("Until(other kind) = %v, want zero", got)
	}
	// Never shortened by SetUntil: only Clear does.
	a.SetUntil(KindCredits, "POST /batch", until.Add(-time.Second))
	if got := b.Until(KindCredits, "POST /batch"); !got.Equal(until) {
		t.Fatalf("after a shorter SetUntil, Until() = %v, want %v", got, until)
	}
	later := until.Add(time.Second)
	b.SetUntil(KindCredits, "POST /batch", later)
	if got := a.Until(KindCredits, "POST /batch"); !got.Equal(later) {
		t.Fatalf("after a longer SetUntil, Until() = %v, want %v", got, later)
	}
	b.Clear(KindCredits, "POST /batch")
	if got := a.Until(KindCredits, "POST /batch"); !got.IsZero() {
		t.Fatalf("after Clear, Until() = %v, want zero", got)
	}
}

func TestUntilPassedDeadline(t *testing.T) {
	m := NewMemory()
	now := time.Now()
	m.setUntil(KindThrottle, "h", now.Add(time.Second), now)
	if got := m.untilAt(KindThrottle, "h", now.Add(time.Second)); !got.IsZero() {
		t.Fatalf("Until at the deadline = %v, want zero", got)
	}
	if got := m.untilAt(KindThrottle, "h", now.Add(time.Second-1)); got.IsZero() {
		t.Fatal("Until just before the deadline = zero, want the deadline")
	}
	m.setUntil(KindThrottle, "past", now.Add(-time.Second), now)
	if len(m.until) != 1 {
		t.Fatalf("a past deadline was stored: %d entries, want 1", len(m.until))
	}
}

func TestSweepDropsPassedDeadlines(t *testing.T) {
	m := NewMemory()
	now := time.Now()
	m.setUntil(KindThrottle, "old", now.Add(time.Millisecond), now)
	later := now.Add(time.Second)
	for i := range sweepEvery {
		m.setUntil(KindThrottle, string(rune('a'+i%26))+string(rune(i)), later.Add(time.Hour), later)
	}
	if _, ok := m.until[factKey{KindThrottle, "old"}]; ok {
		t.Fatal("a passed deadline survived the sweep")
	}
}

func TestCountRollingWindow(t *testing.T) {
	m := NewMemory()
	t0 := time.Now()
	w := 10 * time.Second
	if got := m.add(KindBreaker, "k", 2, w, t0); got != 2 {
		t.Fatalf("Add = %d, want 2", got)
	}
	if got := m.add(KindBreaker, "k", 3, w, t0.Add(5*time.Second)); got != 5 {
		t.Fatalf("Add = %d, want 5", got)
	}
	if got := m.count(KindBreaker, "k", t0.Add(9*time.Second)); got != 5 {
		t.Fatalf("Count within the window = %d, want 5", got)
	}
	if got := m.count(KindBreaker, "k", t0.Add(11*time.Second)); got != 3 {
		t.Fatalf("Count after the first slot left the window = %d, want 3", got)
	}
	if got := m.count(KindBreaker, "k", t0.Add(16*time.Second)); got != 0 {
		t.Fatalf("Count after the window = %d, want 0", got)
	}
	m.add(KindBreaker, "k", 4, w, t0.Add(16*time.Second))
	m.clear(KindBreaker, "k")
	if got := m.count(KindBreaker, "k", t0.Add(16*time.Second)); got != 0 {
		t.Fatalf("Count after Clear = %d, want 0", got)
	}
}

func TestLeaseOneHolder(t *testing.T) {
	m := NewMemory()
	reps := []*Replica{m.Replica(), m.Replica(), m.Replica()}
	var mu sync.Mutex
	var holders []int
	var wg sync.WaitGroup
	for i, r := range reps {
		wg.Go(func() {
			if r.Lease(KindBreaker, "k", time.Minute) {
				mu.Lock()
				holders = append(holders, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(holders) != 1 {
		t.Fatalf("lease holders = %v, want exactly one", holders)
	}
	if !reps[holders[0]].Lease(KindBreaker, "k", time.Minute) {
		t.Fatal("the holder asking again lost the lease")
	}
	now := time.Now()
	other := reps[(holders[0]+1)%3]
	if !m.lease(other.id, KindBreaker, "k", time.Minute, now.Add(2*time.Minute)) {
		t.Fatal("an expired lease was not handed to the next replica")
	}
}

func TestReserveRate(t *testing.T) {
	m := NewMemory()
	now := time.Now()
	l := Limit{Rate: 10, Burst: 2}
	for i := range 2 {
		if _, ok := m.reserve("r", l, now); !ok {
			t.Fatalf("event %d within the burst refused", i)
		}
	}
	wait, ok := m.reserve("r", l, now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("Reserve past the burst = %v, %v; want 100ms, false", wait, ok)
	}
	if _, ok := m.reserve("r", l, now.Add(100*time.Millisecond)); !ok {
		t.Fatal("Reserve after the wait refused")
	}
	if w, ok := m.Replica().Reserve(context.Background(), "free", Limit{}); !ok || w != 0 {
		t.Fatalf("Reserve with no rate = %v, %v; want 0, true", w, ok)
	}
}

func TestUntilAllocs(t *testing.T) {
	r := NewMemory().Replica()
	r.SetUntil(KindThrottle, "api.example.com", time.Now().Add(time.Hour))
	if n := testing.AllocsPerRun(100, func() {
		if r.Until(KindThrottle, "api.example.com").IsZero() {
			t.Fatal("Until = zero")
		}
	}); n != 0 {
		t.Fatalf("Until allocates %v times, want 0", n)
	}
}

func BenchmarkUntil(b *testing.B) {
	r := NewMemory().Replica()
	r.SetUntil(KindThrottle, "api.example.com", time.Now().Add(time.Hour))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Until(KindThrottle, "api.example.com")
		}
	})
}

// ClearIf drops a deadline only while it is the one Deadlines listed: a
// resync must not undo a deadline set again while it scanned its backend.
func TestClearIfKeepsDeadlineSetAgain(t *testing.T) {
	m := NewMemory()
	r := m.Replica()
	until := time.Now().Add(time.Minute)
	r.SetUntil(KindCredits, "gone", until)
	r.SetUntil(KindCredits, "again", until)
	r.Add(KindCredits, "gone", 2, time.Minute)
	ds := m.Deadlines()
	if len(ds) != 2 {
		t.Fatalf("Deadlines() = %v, want 2", ds)
	}
	r.SetUntil(KindCredits, "again", until.Add(time.Second))
	for _, d := range ds {
		m.ClearIf(d)
	}
	if got := r.Until(KindCredits, "gone"); !got.IsZero() {
		t.Fatalf("Until(gone) = %v after ClearIf, want zero", got)
	}
	if got := r.Until(KindCredits, "again"); got.IsZero() {
		t.Fatal("ClearIf dropped a deadline set again since Deadlines")
	}
	if got := r.Count(KindCredits, "gone"); got != 2 {
		t.Fatalf("Count(gone) = %d after ClearIf, want 2 (counts stay)", got)
	}
}
