package notify

import (
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Events reach the hook in the order they were pushed, and only on Flush.
func TestOrder(t *testing.T) {
	var got []int
	q := New(func(n int) { got = append(got, n) })
	for n := range 5 {
		q.Push(n)
	}
	if len(got) != 0 || !q.Pending() {
		t.Fatalf("before Flush: delivered %v, Pending() = %v; want none, true", got, q.Pending())
	}
	q.Flush()
	if want := []int{0, 1, 2, 3, 4}; !slices.Equal(got, want) || q.Pending() {
		t.Errorf("after Flush: delivered %v, Pending() = %v; want %v, false", got, q.Pending(), want)
	}
}

// A hook that pushes and flushes (as a breaker's hook sending a request
// through its own Transport does) does not wait for itself: its event is
// delivered after the current one, by the goroutine already delivering.
func TestHookCallsBack(t *testing.T) {
	var (
		q    *Queue[int]
		got  []int
		done = make(chan struct{})
	)
	q = New(func(n int) {
		got = append(got, n)
		if n < 3 {
			q.Push(n + 1)
			q.Flush() // returns at once: this goroutine is delivering
			if len(got) != n+1 {
				t.Errorf("Flush inside the hook delivered %v; want it left to the deliverer", got)
			}
		}
	})
	go func() {
		defer close(done)
		q.Push(0)
		q.Flush()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a hook calling back in deadlocked")
	}
	if want := []int{0, 1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

// A panicking hook loses only its own event: the later ones are delivered
// by the next Flush.
func TestPanicDoesNotStopLaterDeliveries(t *testing.T) {
	var got []int
	q := New(func(n int) {
		if n == 1 {
			panic("hook")
		}
		got = append(got, n)
	})
	for n := range 4 {
		q.Push(n)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the hook's panic did not reach Flush's caller")
			}
		}()
		q.Flush()
	}()
	if !q.Pending() {
		t.Fatal("events after the panic were dropped")
	}
	q.Flush()
	if want := []int{0, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

// Concurrent pushers and flushers: every event is delivered once, one hook
// call at a time, each pusher's events in its order.
func TestConcurrent(t *testing.T) {
	const goroutines, perG = 8, 200
	var (
		running, overlap bool
		last             [goroutines]int
		delivered        int
		mu               sync.Mutex // only to let the race detector see the check
	)
	for i := range last {
		last[i] = -1
	}
	q := New(func(e [2]int) {
		mu.Lock()
		overlap = overlap || running
		running = true
		mu.Unlock()
		if e[1] != last[e[0]]+1 {
			t.Errorf("goroutine %d: event %d after %d", e[0], e[1], last[e[0]])
		}
		last[e[0]] = e[1]
		delivered++
		mu.Lock()
		running = false
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				q.Push([2]int{g, i})
				q.Flush()
			}
		}()
	}
	wg.Wait()
	q.Flush()
	if overlap {
		t.Error("two goroutines ran the hook at once")
	}
	if delivered != goroutines*perG {
		t.Errorf("delivered %d events, want %d", delivered, goroutines*perG)
	}
}

// Without a hook (or a Queue), Push and Flush do nothing.
func TestNil(t *testing.T) {
	var q *Queue[int]
	q.Push(1)
	q.Flush()
	if q.Pending() {
		t.Error("a nil Queue has events pending")
	}
	q = New[int](nil)
	q.Push(1)
	if q.Pending() {
		t.Error("a Queue without a hook keeps events")
	}
}
