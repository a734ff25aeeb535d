package fleet

import (
	"strconv"
	"testing"
	"time"
)

// Buckets and counts of keys gone quiet are dropped in time, as passed
// deadlines are: a mirror that sees a stream of distinct keys (a pacer's
// host keys, breakers of hosts called once) must not grow for ever.
func TestMemoryForgetsQuietKeys(t *testing.T) {
	m := NewMemory()
	t0 := time.Now()
	const n = 5 * sweepEvery
	for i := range n {
		now := t0.Add(time.Duration(i) * time.Second)
		k := strconv.Itoa(i)
		m.reserve(k, Limit{Rate: 100, Burst: 2}, now)
		m.add(KindBreaker, k, 1, time.Second, now)
	}
	m.mu.RLock()
	rates, counts := len(m.rates), len(m.counts)
	m.mu.RUnlock()
	if rates > 2*sweepEvery || counts > 2*sweepEvery {
		t.Fatalf("after %d quiet keys: %d buckets, %d counts kept; want at most %d each", n, rates, counts, 2*sweepEvery)
	}
}

// A bucket dropped once full answers as a full one would.
func TestMemorySweptBucketIsFull(t *testing.T) {
	m := NewMemory()
	t0 := time.Now()
	l := Limit{Rate: 1, Burst: 1}
	if _, ok := m.reserve("a", l, t0); !ok {
		t.Fatal("first reserve refused")
	}
	if _, ok := m.reserve("a", l, t0.Add(10*time.Millisecond)); ok {
		t.Fatal("second reserve within the second granted")
	}
	for i := range 2 * sweepEvery {
		m.reserve("x"+strconv.Itoa(i), l, t0.Add(10*time.Millisecond))
	}
	m.mu.RLock()
	_, kept := m.rates["a"]
	m.mu.RUnlock()
	if !kept {
		t.Fatal("a bucket still refilling was dropped")
	}
}
