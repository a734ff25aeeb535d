package bench

import (
	"sync"
	"testing"
	"time"
)

// connSlack is how many spare connections a peer that reuses its
// connection may open in the 500-retried-500s scenario: the drained
// connection goes back to the idle pool from its read loop, after the
// body's Close returns, so on a loaded machine the next request can find
// none idle and net/http dials one. A peer that does not drain opens one
// per retried 500.
const connSlack = 2

// TestBehaviour runs the behaviour scenarios for every peer and checks that
// resilient holds its promises and that no peer does better on any row.
func TestBehaviour(t *testing.T) {
	peers := Peers(nil)
	rows := make([]Behaviour, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i] = Measure(p)
		}()
	}
	wg.Wait()
	t.Logf("\n%s", BehaviourTable(rows))

	for i, p := range peers {
		r := rows[i]
		if p.Name != "resilient retry+breaker" && p.Name != "resilient stack (no-op tracing)" {
			continue
		}
		if r.StormStatus != 200 || r.StormElapsed < time.Second || r.StormAttempts != 2 {
			t.Errorf("%s: 429 storm = %+v, want 200 after honouring 1s in 2 attempts", p.Name, r)
		}
		// Waiting on the hint runs into the scenario's deadline; every peer
		// runs at once, so "at once" can take a while on a loaded machine.
		if r.LongHintElapsed >= longHintLimit-50*time.Millisecond || r.LongHintAttempts != 1 {
			t.Errorf("%s: Retry-After 3600 answered after %v and %d attempts, want at once, not at the %v deadline", p.Name, r.LongHintElapsed, r.LongHintAttempts, longHintLimit)
		}
		if r.ClientErrorHits != 3 {
			t.Errorf("%s: %d requests for 3 client errors, want 3", p.Name, r.ClientErrorHits)
		}
		if r.PostAttempts != 3 || !r.PostBodiesIntact || r.PostStatus != 200 {
			t.Errorf("%s: POST replay = %d attempts, intact %v", p.Name, r.PostAttempts, r.PostBodiesIntact)
		}
		if r.NewConns < 1 || r.NewConns > 1+connSlack {
			t.Errorf("%s: %d connections for 500 retried 500s, want 1 (or a spare or two)", p.Name, r.NewConns)
		}
		if r.DeadHits > tripAfter {
			t.Errorf("%s: %d requests reached a dead upstream, want at most %d (then the breaker holds)", p.Name, r.DeadHits, tripAfter)
		}
		for j, q := range peers {
			o := rows[j]
			if o.ClientErrorHits >= 3 && o.ClientErrorHits < r.ClientErrorHits ||
				o.NewConns > 0 && o.NewConns+connSlack < r.NewConns ||
				q.Breaks && o.DeadHits < r.DeadHits ||
				o.PostStatus == 200 && r.PostStatus != 200 {
				t.Errorf("%s does better than %s: %+v vs %+v", q.Name, p.Name, o, r)
			}
		}
	}
}

// TestTraceShapes checks that resilient shows a retried request as one
// trace: a request span and one client span per attempt, resend counts and
// the retry decisions recorded, one trace id on the wire.
func TestTraceShapes(t *testing.T) {
	rows := MeasureTraces()
	t.Logf("\n%s", TraceTable(rows))
	if len(rows) != len(TracingPeers) {
		t.Fatalf("%d rows, want %d", len(rows), len(TracingPeers))
	}
	for _, r := range rows {
		if r.Peer != "resilient stack (recording)" {
			continue
		}
		if r.Spans != 4 || r.ClientSpans != 3 || r.Traces != 1 || !r.ResendCounts || r.RetryEvents != 2 || r.ServerTraces != 1 {
			t.Errorf("resilient's trace = %+v, want 4 spans (3 attempts) in 1 trace, resend counts, 2 retry events, 1 trace on the wire", r)
		}
	}
}
