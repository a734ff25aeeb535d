package window

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	a = iota
	b
)

func counts(c *Counter, now time.Duration) [2]uint64 {
	var n [2]uint64
	c.Counts(now, n[:])
	return n
}

// Events leave the window one bucket at a time: at 10 buckets of a second,
// an event at 3.5s counts until 12.999s and not from 13s on.
func TestRolling(t *testing.T) {
	start := time.Hour // not zero, to catch slot-0 mix-ups
	c := New(10*time.Second, 10, 2)
	c.Add(a, start+3500*time.Millisecond)
	c.Add(b, start+3500*time.Millisecond)
	c.Add(b, start+7*time.Second)
	steps := []struct {
		at   time.Duration
		want [2]uint64
	}{
		{3500 * time.Millisecond, [2]uint64{1, 1}},
		{7 * time.Second, [2]uint64{1, 2}},
		{12999 * time.Millisecond, [2]uint64{1, 2}},
		{13 * time.Second, [2]uint64{0, 1}},
		{16999 * time.Millisecond, [2]uint64{0, 1}},
		{17 * time.Second, [2]uint64{0, 0}},
		{time.Hour, [2]uint64{0, 0}},
		{0, [2]uint64{0, 0}}, // before the events: none of them yet
	}
	for _, s := range steps {
		if got := counts(&c, start+s.at); got != s.want {
			t.Errorf("Counts at +%v = %v, want %v", s.at, got, s.want)
		}
	}
}

// A bucket reused for a later slot starts from zero; an event for a slot
// its bucket has left behind is dropped rather than counted as new.
func TestBucketReuseAndLateEvents(t *testing.T) {
	c := New(10*time.Second, 10, 2)
	now := time.Hour + 5*time.Second
	for range 3 {
		c.Add(a, now)
	}
	c.Add(a, now+10*time.Second) // same bucket, next lap
	if got := counts(&c, now+10*time.Second); got != [2]uint64{1, 0} {
		t.Errorf("after the ring wrapped: %v, want [1 0]", got)
	}
	c.Add(a, now) // late: its bucket has moved on
	if got := counts(&c, now+10*time.Second); got != [2]uint64{1, 0} {
		t.Errorf("after a late event: %v, want [1 0]", got)
	}
}

func TestSaturates(t *testing.T) {
	c := New(time.Second, 1, 2)
	now := 3 * time.Second
	c.words[a].Store(3<<countBits | (MaxCount - 1))
	for range 3 {
		c.Add(a, now)
	}
	if got := counts(&c, now); got != [2]uint64{MaxCount, 0} {
		t.Errorf("counts = %v, want a stopped at %d and b untouched", got, MaxCount)
	}
	c.Add(a, now+time.Second) // a new slot starts over
	if got := counts(&c, now+time.Second); got != [2]uint64{1, 0} {
		t.Errorf("counts in the next slot = %v, want [1 0]", got)
	}
}

// Run with -race: concurrent adds of several kinds in several buckets are
// all counted, none lost to a lost compare-and-swap, none double-counted,
// while reads run alongside.
func TestConcurrentAdds(t *testing.T) {
	c := New(10*time.Second, 10, 3)
	base := time.Hour
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 20000 {
				at := base + time.Duration(i%2)*time.Second
				c.Add(g%3, at)
				if i%1000 == 0 {
					var n [3]uint64
					c.Counts(at, n[:])
				}
			}
		})
	}
	wg.Wait()
	var n [3]uint64
	c.Counts(base+time.Second, n[:])
	if n != [3]uint64{40000, 40000, 40000} {
		t.Errorf("counts = %v, want 40000 of each kind", n)
	}
}

func TestReset(t *testing.T) {
	c := New(10*time.Second, 10, 2)
	now := time.Hour
	c.Add(a, now)
	c.Add(b, now+time.Second)
	c.Reset()
	if got := counts(&c, now+time.Second); got != [2]uint64{} {
		t.Errorf("after Reset: %v, want none", got)
	}
	c.Add(b, now+time.Second)
	if got := counts(&c, now+time.Second); got != [2]uint64{0, 1} {
		t.Errorf("counting after Reset: %v, want [0 1]", got)
	}
	// Near the epoch the slot number is 0, the same as a reset word's.
	c.Reset()
	c.Add(a, 0)
	c.Add(a, 500*time.Millisecond)
	if got := counts(&c, 900*time.Millisecond); got != [2]uint64{2, 0} {
		t.Errorf("counting in slot 0 after Reset: %v, want [2 0]", got)
	}
}

// Readings before the epoch count as the epoch, not as a far-off slot.
func TestNegativeNow(t *testing.T) {
	c := New(10*time.Second, 10, 2)
	c.Add(a, -time.Hour)
	if got := counts(&c, 0); got != [2]uint64{1, 0} {
		t.Errorf("an event at -1h, counted at 0: %v, want [1 0]", got)
	}
}

func TestZeroCounter(t *testing.T) {
	var c Counter
	c.Add(a, time.Second)
	n := [2]uint64{7, 7}
	c.Counts(time.Second, n[:])
	if n != [2]uint64{} {
		t.Errorf("zero Counter counts %v, want zeros", n)
	}
	c.Reset()
}

func TestNewShapes(t *testing.T) {
	tests := []struct {
		name          string
		span          time.Duration
		buckets, kind int
		wantPeriod    time.Duration
		wantBuckets   uint64
	}{
		{"even split", 10 * time.Second, 10, 2, time.Second, 10},
		{"fewer buckets for a short span", 5 * time.Millisecond, 10, 2, time.Millisecond, 5},
		{"a span under a bucket", 0, 10, 2, MinBucket, 1},
		{"no buckets means one", time.Second, 0, 2, time.Second, 1},
		{"no kinds means one", time.Second, 1, 0, time.Second, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(tc.span, tc.buckets, tc.kind)
			wantWords := int(tc.wantBuckets) * max(tc.kind, 1)
			if c.period != tc.wantPeriod || c.n != tc.wantBuckets || len(c.words) != wantWords {
				t.Errorf("New(%v, %d, %d): period %v, %d buckets, %d words; want period %v, %d buckets, %d words",
					tc.span, tc.buckets, tc.kind, c.period, c.n, len(c.words), tc.wantPeriod, tc.wantBuckets, wantWords)
			}
		})
	}
	// A short span still forgets after the span, not after 10 buckets of MinBucket.
	c := New(5*time.Millisecond, 10, 1)
	c.Add(a, time.Hour)
	var n [1]uint64
	if c.Counts(time.Hour+5*time.Millisecond, n[:]); n[0] != 0 {
		t.Errorf("an event 5ms old in a 5ms window still counts: %d", n[0])
	}
}

func TestCountsIntoShortOrLong(t *testing.T) {
	c := New(time.Second, 1, 2)
	c.Add(b, 0)
	one := []uint64{9}
	c.Counts(0, one)
	three := []uint64{9, 9, 9}
	c.Counts(0, three)
	if one[0] != 0 || three[0] != 0 || three[1] != 1 || three[2] != 0 {
		t.Errorf("Counts into 1 = %v, into 3 = %v; want [0], [0 1 0]", one, three)
	}
}

func TestClock(t *testing.T) {
	n1 := Now()
	later := time.Now().Add(time.Minute)
	n2 := Now()
	if n1 < 0 || n2 < n1 {
		t.Errorf("Now went %v then %v", n1, n2)
	}
	if d := At(later) - n2; d > time.Minute || d < time.Minute-time.Second {
		t.Errorf("At(now + 1m) - Now() = %v, want just under 1m", d)
	}
	if d := At(epoch); d != 0 {
		t.Errorf("At(epoch) = %v, want 0", d)
	}
}

func BenchmarkAdd(b *testing.B) {
	c := New(10*time.Second, 10, 2)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(a, Now())
		}
	})
}

func BenchmarkCounts(b *testing.B) {
	c := New(10*time.Second, 10, 2)
	var n [2]uint64
	b.ReportAllocs()
	for b.Loop() {
		c.Counts(Now(), n[:])
	}
}

// Remove takes back one event of its bucket while the bucket still counts
// that slot; an event that has left the window, or a bucket of another
// kind or with nothing counted, is left alone (counts never go below 0).
func TestRemove(t *testing.T) {
	start := time.Hour
	c := New(10*time.Second, 10, 2)
	c.Add(a, start)
	c.Add(a, start)
	c.Add(b, start)
	c.Remove(a, start+500*time.Millisecond) // same bucket
	if got := counts(&c, start+time.Second); got != [2]uint64{1, 1} {
		t.Fatalf("after one Remove: %v, want [1 1]", got)
	}
	c.Remove(a, start+time.Second) // another bucket, nothing there
	c.Remove(a, start)
	c.Remove(a, start) // nothing left: stays 0
	if got := counts(&c, start+time.Second); got != [2]uint64{0, 1} {
		t.Fatalf("after removing more than was added: %v, want [0 1]", got)
	}
	c.Add(b, start+11*time.Second) // the bucket moves on to a later slot
	c.Remove(b, start)             // an event from the slot it left: no effect
	if got := counts(&c, start+11*time.Second); got != [2]uint64{0, 1} {
		t.Fatalf("a Remove for a slot the bucket left took from the new one: %v, want [0 1]", got)
	}
	var zero Counter
	zero.Remove(a, start) // the zero Counter counts nothing: no panic
}
