package registry

import (
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type route struct{ method, host string }

func ident(k route) string { return k.method + " " + k.host }

// A hit, through the last-used entry or the map, takes no allocation.
func TestGetAllocs(t *testing.T) {
	r := New[route, string](10, nil)
	a, b := route{"GET", "a.test"}, route{"GET", "b.test"}
	r.GetOrCreate(a, ident)
	r.GetOrCreate(b, ident)
	if n := testing.AllocsPerRun(100, func() { r.Get(b) }); n != 0 {
		t.Errorf("Get of the last-used entry: %v allocs, want 0", n)
	}
	i := 0
	if n := testing.AllocsPerRun(100, func() { r.Get([2]route{a, b}[i%2]); i++ }); n != 0 {
		t.Errorf("Get alternating two entries: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { r.GetOrCreate(a, ident) }); n != 0 {
		t.Errorf("GetOrCreate of an existing entry: %v allocs, want 0", n)
	}
}

func TestGetOrCreate(t *testing.T) {
	r := New[route, string](10, nil)
	calls := 0
	mk := func(k route) string { calls++; return ident(k) }
	for range 3 {
		if v, ok := r.GetOrCreate(route{"GET", "a.test"}, mk); !ok || v != "GET a.test" {
			t.Fatalf("GetOrCreate() = %q, %v; want %q, true", v, ok, "GET a.test")
		}
	}
	if calls != 1 || r.Len() != 1 {
		t.Errorf("create called %d times, Len() = %d; want 1, 1", calls, r.Len())
	}
	if _, ok := r.Get(route{"POST", "a.test"}); ok {
		t.Error("Get() of a key never created found an entry")
	}
}

// Eviction prefers an entry not used since the last sweep.
func TestEvictsNotRecentlyUsed(t *testing.T) {
	r := New[int, int](4, nil)
	id := func(k int) int { return k }
	for k := range 4 {
		r.GetOrCreate(k, id)
	}
	// Every entry was used (created): this sweep evicts one of them and
	// clears the marks of the others. 100 is marked as it is created.
	r.GetOrCreate(100, id)
	var left []int
	r.Range(func(k, _ int) bool {
		if k != 100 {
			left = append(left, k)
		}
		return true
	})
	if len(left) != 3 {
		t.Fatalf("entries left besides 100: %v, want 3", left)
	}
	victim := left[1]
	for _, k := range left {
		if k != victim {
			r.Get(k)
		}
	}
	r.GetOrCreate(101, id)
	if _, ok := r.Get(victim); ok {
		t.Errorf("entry %d, the only one not used since the last sweep, was kept", victim)
	}
	for _, k := range append(left, 100, 101) {
		if _, ok := r.Get(k); !ok && k != victim {
			t.Errorf("entry %d, used since the last sweep, was evicted", k)
		}
	}
}

// Pinned entries are never evicted; when every entry is pinned, the answer
// is "full" and nothing is stored. Reluctant entries go only after
// Evictable ones.
func TestRetention(t *testing.T) {
	var pinned sync.Map // keys pinned
	keep := func(v int) Retention {
		if r, ok := pinned.Load(v); ok {
			return r.(Retention)
		}
		return Evictable
	}
	r := New[int, int](3, keep)
	id := func(k int) int { return k }
	for k := range 3 {
		r.GetOrCreate(k, id)
	}
	pinned.Store(0, Pinned)
	pinned.Store(1, Reluctant)
	r.GetOrCreate(10, id) // 2 goes: the only Evictable entry
	if _, ok := r.Get(2); ok {
		t.Error("an Evictable entry survived while a Reluctant one was there")
	}
	pinned.Store(10, Pinned)
	r.GetOrCreate(11, id) // 1 goes: Reluctant, nothing Evictable left
	if _, ok := r.Get(1); ok {
		t.Error("the Reluctant entry survived with nothing else to evict")
	}
	pinned.Store(11, Pinned)
	if v, ok := r.GetOrCreate(12, id); ok || v != 0 {
		t.Errorf("GetOrCreate() on a full, pinned registry = %v, %v; want 0, false", v, ok)
	}
	if _, ok := r.Get(12); ok || r.Len() != 3 {
		t.Errorf("full registry stored the refused key (Len() = %d)", r.Len())
	}
	for _, k := range []int{0, 10, 11} {
		if _, ok := r.Get(k); !ok {
			t.Errorf("pinned entry %d was evicted", k)
		}
	}
	r.Delete(10) // pinned entries go when their owner deletes them
	if v, ok := r.GetOrCreate(12, id); !ok || v != 12 {
		t.Errorf("GetOrCreate() after a Delete = %v, %v; want 12, true", v, ok)
	}
}

// The bound holds, and pinned entries survive, under concurrent creates.
func TestBoundUnderConcurrency(t *testing.T) {
	const limit, goroutines, perG = 16, 8, 500
	// Even keys below 2*limit are pinned once created.
	keep := func(v int) Retention {
		if v%2 == 0 && v < 2*limit {
			return Pinned
		}
		return Evictable
	}
	r := New[int, int](limit, keep)
	var (
		wg     sync.WaitGroup
		stored sync.Map // pinned keys GetOrCreate stored
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				k := (g*perG + i*7) % 1000
				if _, ok := r.GetOrCreate(k, func(k int) int { return k }); ok && keep(k) == Pinned {
					stored.Store(k, true)
				}
				if n := r.Len(); n > limit {
					t.Errorf("Len() = %d during creates, want at most %d", n, limit)
					return
				}
				r.Get(k % 7)
			}
		}()
	}
	wg.Wait()
	counted := 0
	r.Range(func(k, v int) bool {
		counted++
		if k != v {
			t.Errorf("entry %d holds %d", k, v)
		}
		return true
	})
	if counted != r.Len() || counted > limit {
		t.Errorf("Range() saw %d entries, Len() = %d, limit %d", counted, r.Len(), limit)
	}
	pinned := 0
	stored.Range(func(k, _ any) bool {
		pinned++
		if _, ok := r.Get(k.(int)); !ok {
			t.Errorf("pinned entry %d was evicted", k)
		}
		return true
	})
	if pinned == 0 {
		t.Error("no pinned entry was stored: the test checks nothing")
	}
}

// A key that was removed is not returned through the last-used entry.
func TestDeleteForgetsLastUsed(t *testing.T) {
	r := New[string, *int](4, nil)
	mk := func(string) *int { return new(int) }
	first, _ := r.GetOrCreate("a", mk)
	r.Get("a")
	r.Delete("a")
	if _, ok := r.Get("a"); ok {
		t.Fatal("Get() found a deleted entry")
	}
	second, _ := r.GetOrCreate("a", mk)
	if got, _ := r.Get("a"); got != second || got == first {
		t.Error("Get() after re-creating returned the deleted value")
	}
	r.GetOrCreate("b", mk)
	r.Clear()
	if r.Len() != 0 {
		t.Errorf("Len() after Clear = %d, want 0", r.Len())
	}
	for _, k := range []string{"a", "b"} {
		if _, ok := r.Get(k); ok {
			t.Errorf("Get(%q) after Clear found an entry", k)
		}
	}
}

// A stale last-used pointer, stored by a Get racing a Delete, must not
// bring the deleted entry back.
func TestStaleLastUsed(t *testing.T) {
	r := New[string, int](4, nil)
	r.GetOrCreate("a", func(string) int { return 1 })
	v, _ := r.m.Load("a")
	n := v.(*node[string, int])
	r.Delete("a")
	r.last.Store(n) // as a Get that loaded n before the Delete would
	if _, ok := r.Get("a"); ok {
		t.Error("Get() returned a deleted entry through the last-used pointer")
	}
}

func BenchmarkGet(b *testing.B) {
	r := New[route, string](1000, nil)
	keys := make([]route, 64)
	for i := range keys {
		keys[i] = route{"GET", fmt.Sprintf("h%d.test", i)}
		r.GetOrCreate(keys[i], ident)
	}
	b.Run("last", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Get(keys[0])
			}
		})
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				r.Get(keys[i%len(keys)])
				i++
			}
		})
	})
}
