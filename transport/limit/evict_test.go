package limit

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A key's gate evicted between the lookup and the acquire (it was idle,
// so Evictable) must not leave two gates for one key: requests that
// looked up the old gate and requests that created the new one would
// each get Max slots. Another key churns the registry (MaxKeys 1) with
// gates that never hold a slot, so the "MaxKeys keys busy: unlimited"
// fallback never applies: any overlap of two requests of the one key is
// the race.
func TestEvictionRace(t *testing.T) {
	var now, peak atomic.Int64
	next := rtFunc(func(r *http.Request) (*http.Response, error) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		for range 50 {
			_ = n
		}
		now.Add(-1)
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
	})
	tr := New(next, Policy{Max: 1, MaxKeys: 1, MaxWait: 10 * time.Second})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for e := range 4 {
		wg.Go(func() {
			for i := e; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				tr.s.reg.GetOrCreate(key{scheme: "https", host: "other" + strconv.Itoa(i%7)}, tr.s.newGate)
			}
		})
	}
	deadline := time.Now().Add(time.Second)
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() {
			for time.Now().Before(deadline) && peak.Load() <= 1 {
				resp, err := get(t, tr, context.Background())
				if err != nil {
					t.Errorf("RoundTrip() error = %v", err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if p := peak.Load(); p > 1 {
		t.Errorf("peak in flight of one key = %d, want at most Max 1", p)
	}
}

// The interleaving of the race above, step by step: a request looks up
// its key's idle gate; another key evicts it (MaxKeys 1); a second
// request of the first key creates a new gate and holds its one slot;
// then the first request goes on to acquire on the gate it looked up.
// Two requests of one key in flight with Max 1.
func TestEvictedGateStillGrants(t *testing.T) {
	tr := New(respond(200), Policy{Max: 1, MaxKeys: 1, MaxWait: -1})
	g1, _ := tr.s.reg.GetOrCreate(host, tr.s.newGate) // request A's lookup
	tr.s.reg.GetOrCreate(key{scheme: "https", host: "other"}, tr.s.newGate)
	resp, err := get(t, tr, context.Background()) // request B: a new gate
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, ok, _ := g1.tryAcquire(nil); ok { // request A goes on
		t.Error("a gate evicted while idle still grants a slot: two requests of one key in flight with Max 1")
	}
}
