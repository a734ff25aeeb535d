package credits

import (
	"net/http"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/internal/registry"
)

// countLatches counts the entries of reg one by one, to check its size
// counter against what it holds.
func countLatches[K comparable](reg *registry.Registry[K, *latch]) int {
	n := 0
	reg.Range(func(K, *latch) bool { n++; return true })
	return n
}

// admit finds latches without a lock, then decides under the lock: a
// latch released in between (by Reset, say) must not refuse the request.
func TestAdmitSeesReleaseUnderLock(t *testing.T) {
	tr, a, clk := newTest(Policy{})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	k := tr.keys(must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil)))

	tr.s.mu.Lock()
	done := make(chan *Error)
	go func() {
		_, refusal := tr.s.admit(k, clk.Now())
		done <- refusal
	}()
	time.Sleep(10 * time.Millisecond) // let admit find the latch and wait for the lock
	tr.s.route.Delete(k.route)        // released, as Reset does, under the lock
	tr.s.mu.Unlock()
	if refusal := <-done; refusal != nil {
		t.Errorf("admit after the release = %v, want no refusal", refusal)
	}
}

// The remaining-credits gauge keeps the route written lately when it must
// make room: the bound evicts one not written since the last sweep.
func TestRemainingKeepsRecentRoute(t *testing.T) {
	tr, _, _ := newTest(Policy{RemainingHeader: "X-Credits-Remaining", MaxKeys: 3})
	routes := []string{"a", "b", "c"}
	for i, r := range routes {
		tr.s.record(keys{route: r}, int64(i+1))
	}
	tr.s.record(keys{route: "d"}, 4) // a sweep: one of a, b, c goes; marks cleared
	var kept []string
	for _, r := range routes {
		if _, ok := tr.Remaining()[r]; ok {
			kept = append(kept, r)
		}
	}
	if len(kept) != 2 {
		t.Fatalf("Remaining() = %v, want d and two of a, b, c", tr.Remaining())
	}
	tr.s.record(keys{route: kept[0]}, 10) // written again since the sweep
	tr.s.record(keys{route: "e"}, 5)
	got := tr.Remaining()
	if got[kept[0]] != 10 {
		t.Errorf("Remaining() = %v: the route written lately (%s) was dropped", got, kept[0])
	}
	if _, ok := got[kept[1]]; ok || len(got) != 3 {
		t.Errorf("Remaining() = %v: want %s, the route not written since the sweep, dropped", got, kept[1])
	}
}
