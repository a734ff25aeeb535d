package bench

import (
	"testing"
	"time"
)

// TestPacing prints the issue-15 figure and checks it: with requests
// arriving over a second, pacing lets about one of them (plus its retry)
// discover the 429, and the others wait for the window instead of adding
// a 429 and a retry each. All at once, every request is in flight before
// the first 429 comes back, so pacing cannot save those: the row shows it.
func TestPacing(t *testing.T) {
	rows := []Pacing{MeasurePacing(20, 50*time.Millisecond), MeasurePacing(20, 0)}
	t.Logf("\n%s", PacingTable(rows))
	r := rows[0]
	if r.UnpacedHits < 30 || r.PacedHits > 25 {
		t.Errorf("hits without pacing %d (want >= 30), with pacing %d (want <= 25)", r.UnpacedHits, r.PacedHits)
	}
	for _, r := range rows {
		if r.UnpacedFailed != 0 || r.PacedFailed != 0 {
			t.Errorf("%+v: every request should end in a 200", r)
		}
		if r.PacedHits > r.UnpacedHits {
			t.Errorf("%+v: pacing added requests", r)
		}
	}
}
