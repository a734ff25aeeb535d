package faultserver_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/resilient-http/resilient/transport/internal/faultserver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client returns a client of its own (net/http's hidden retries need a
// reused connection; each test decides whether it has one).
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestFlappingPlan(t *testing.T) {
	f := faultserver.Flapping(42, 0.3, 0.03)
	counts := map[int]int{}
	const n = 20000
	for i := range n {
		counts[f.Plan(fmt.Sprint(i), 1)]++
	}
	near := func(got int, p float64) bool {
		want := p * n
		return float64(got) > 0.85*want && float64(got) < 1.15*want
	}
	if !near(counts[faultserver.OutcomeReset], 0.03) || !near(counts[500], 0.1) || !near(counts[503], 0.1) ||
		!near(counts[429], 0.1) || !near(counts[200], 0.67) || len(counts) != 5 {
		t.Errorf("outcomes of %d plans: %v, want about 3%% resets, 10%% each of 500/503/429", n, counts)
	}
	// Deterministic per seed, different across seeds and attempts.
	g, other := faultserver.Flapping(42, 0.3, 0.03), faultserver.Flapping(43, 0.3, 0.03)
	same, sameAttempt := 0, 0
	for i := range 1000 {
		id := fmt.Sprint(i)
		if f.Plan(id, 1) != g.Plan(id, 1) {
			t.Fatalf("seed 42 planned %d then %d for %s", f.Plan(id, 1), g.Plan(id, 1), id)
		}
		if f.Plan(id, 1) == other.Plan(id, 1) {
			same++
		}
		if f.Plan(id, 1) == f.Plan(id, 2) {
			sameAttempt++
		}
	}
	// Independent plans agree about 0.67² + 3·0.1² + 0.03² ≈ 48% of the time.
	if same > 600 || sameAttempt > 600 {
		t.Errorf("plans agree across seeds %d/1000, across attempts %d/1000: not independent", same, sameAttempt)
	}
}

// Over a real socket the Flapper answers as planned and logs every request
// of every id, with its method, key and body.
func TestFlappingServes(t *testing.T) {
	f := faultserver.Flapping(7, 0.3, 0.1)
	srv := faultserver.New(t, f)
	c := client(t)
	const ids = 100
	got := map[string][]int{}
	for i := range ids {
		id := fmt.Sprint(i)
		for range 2 {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("body-"+id))
			req.Header.Set(faultserver.IDHeader, id)
			req.Header.Set("Idempotency-Key", "k"+id)
			status := faultserver.OutcomeReset
			// A reset on a reused connection makes net/http send the
			// request again (the key makes it idempotent): the log shows
			// both sends, the client only the last answer.
			resp, err := c.Do(req)
			if err == nil {
				io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			} else if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
				t.Errorf("id %s: %v, want a status or a reset", id, err)
			}
			got[id] = append(got[id], status)
		}
	}
	recs := f.Records()
	if len(recs) != ids {
		t.Fatalf("%d ids logged, want %d", len(recs), ids)
	}
	hidden := 0
	for id, rec := range recs {
		if rec.Method != http.MethodPost || rec.Key != "k"+id || rec.KeyChanged || rec.BodyChanged {
			t.Errorf("id %s: record %+v", id, rec)
		}
		for n, o := range rec.Outcomes {
			if o != f.Plan(id, n+1) {
				t.Errorf("id %s: request %d answered %d, plan says %d", id, n+1, o, f.Plan(id, n+1))
			}
		}
		hidden += rec.Sends() - 2
		if rec.Last() != got[id][1] {
			t.Errorf("id %s: client got %d last, server answered %d last", id, got[id][1], rec.Last())
		}
	}
	if hidden < 0 || hidden > ids/2 {
		t.Errorf("%d sends beyond the client's calls, want a few (net/http's replays after a reset)", hidden)
	}
	if tot := f.Totals(); tot[faultserver.OutcomeReset] == 0 || tot[200] == 0 || tot[429] == 0 {
		t.Errorf("totals %v (%s), want every kind of outcome", tot, f)
	}
	// The log notices a changed key and body.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("other"))
	req.Header.Set(faultserver.IDHeader, "0")
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
	if rec := f.Records()["0"]; !rec.KeyChanged || !rec.BodyChanged {
		t.Errorf("record after a changed key and body: %+v", rec)
	}
}
