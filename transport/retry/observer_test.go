package retry

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/resilient-http/resilient/transport/errclass"
)

// logObserver appends what it hears, under its name, to a shared log.
type logObserver struct {
	name string
	log  *[]string
}

func (o logObserver) Retrying(last errclass.Outcome, next errclass.Attempt) {
	*o.log = append(*o.log, fmt.Sprintf("%s: retry %d after %d", o.name, next.Number, last.StatusCode))
}

func (o logObserver) GaveUp(last errclass.Outcome, attempts int, reason errclass.StopReason) {
	*o.log = append(*o.log, fmt.Sprintf("%s: gave up after %d: %s", o.name, attempts, reason))
}

func TestPolicyObserverComposes(t *testing.T) {
	srv := newScript(t, step{status: 503})
	var log []string
	p := fast
	p.MaxAttempts = 2
	p.Observer = logObserver{"policy", &log}
	tr := New(srv.Client().Transport, p)

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req = req.WithContext(errclass.WithObserver(req.Context(), logObserver{"context", &log}))
	mustRoundTrip(t, tr, req)
	want := []string{
		"context: retry 2 after 503", "policy: retry 2 after 503",
		"context: gave up after 2: attempts_exhausted", "policy: gave up after 2: attempts_exhausted",
	}
	if strings.Join(log, "; ") != strings.Join(want, "; ") {
		t.Errorf("observers heard %q, want %q", log, want)
	}

	// Alone, it hears a retry skipped for a body that cannot be replayed.
	log = nil
	req, _ = http.NewRequest(http.MethodPost, srv.URL, &oneShot{Reader: strings.NewReader("data")})
	mustRoundTrip(t, tr, req)
	if want := "policy: gave up after 1: not_replayable"; strings.Join(log, "; ") != want {
		t.Errorf("policy observer heard %q, want %q", log, want)
	}
}

// A server's should-retry advice, classified by errclass, is obeyed; an
// advised retry of a non-idempotent request waits for an Idempotency-Key
// when the policy requires one, as a 5xx does.
func TestShouldRetryAdvice(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		advice     string
		requireKey bool
		key        string
		want       int
	}{
		{"503 false", 503, "false", false, "", 1},
		{"429 false", 429, "false", false, "", 1},
		{"409 true", 409, "true", false, "", 3},
		{"409 true, key required, none", 409, "true", true, "", 1},
		{"409 true, key required, given", 409, "true", true, "k", 3},
		{"400 true", 400, "true", false, "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScript(t, step{status: tc.status, header: http.Header{"X-Should-Retry": {tc.advice}}})
			p := fast
			p.RequireIdempotencyKey = tc.requireKey
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
			if tc.key != "" {
				req.Header.Set("Idempotency-Key", tc.key)
			}
			if resp := mustRoundTrip(t, New(srv.Client().Transport, p), req); resp.StatusCode != tc.status || srv.count() != tc.want {
				t.Errorf("RoundTrip() = %d after %d attempts, want %d after %d", resp.StatusCode, srv.count(), tc.status, tc.want)
			}
		})
	}
}
