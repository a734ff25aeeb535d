package transport

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/limit"
	"github.com/resilient-http/resilient/transport/pacing"
	"github.com/resilient-http/resilient/transport/retry"
)

// genConfig builds a Config in code of the kind a file can hold: every
// field at a value in its file range, endpoints starting from the default
// (as a file's do) with some fields changed, a breaker or budget of their
// own or none.
type genConfig struct{ r *rand.Rand }

func (g genConfig) maybe() bool { return g.r.IntN(3) == 0 }

func (g genConfig) dur() time.Duration {
	switch g.r.IntN(5) {
	case 0:
		return 0
	case 1:
		return time.Duration(g.r.IntN(1000)+1) * time.Millisecond
	case 2:
		return time.Duration(g.r.Int64N(1 << 40))
	case 3:
		return time.Duration(g.r.IntN(100)+1) * time.Second
	}
	return time.Duration(g.r.Int64N(1<<62)) + 1
}

func (g genConfig) timeout() time.Duration {
	if g.r.IntN(4) == 0 {
		return NoTimeout
	}
	return g.dur()
}

func (g genConfig) count(lo, hi int) int { return lo + g.r.IntN(hi-lo+1) }

func (g genConfig) ratio() float64 {
	if g.maybe() {
		return 0
	}
	return float64(g.r.IntN(1001)) / 1000
}

func (g genConfig) statuses() []int {
	if g.maybe() {
		return nil
	}
	n := g.r.IntN(4) + 1
	codes := make([]int, n)
	for i := range codes {
		codes[i] = 100 + g.r.IntN(500)
	}
	return codes
}

func (g genConfig) breaker() breaker.Policy {
	return breaker.Policy{
		Window: g.dur(), MinRequests: uint32(g.count(1, 1<<20)), FailureRatio: g.ratio(),
		ConsecutiveFailures: uint32(g.count(1, 100)), OpenTimeout: g.dur(), HalfOpenProbes: uint32(g.count(1, 5)),
		CountRateLimited: g.maybe(), MaxKeys: g.count(1, 1<<20), ProbeTimeout: g.dur(),
	}
}

func (g genConfig) budget() retry.BudgetPolicy {
	return retry.BudgetPolicy{Ratio: float64(g.r.IntN(10001)) / 1000, MinPerSecond: float64(g.r.IntN(1000)), Window: g.dur() + time.Nanosecond}
}

// change mutates a few fields of p (a policy that starts from the
// default's, or the default itself).
func (g genConfig) change(p *Policy, def bool) {
	steps := []func(){
		func() { p.Retry.MaxAttempts = g.count(1, 100) },
		func() { p.Retry.BaseDelay = g.dur() },
		func() { p.Retry.MaxDelay = g.dur() },
		func() { p.Retry.MaxElapsed = g.dur() },
		func() { p.Retry.MaxRetryAfter = g.dur() },
		func() { p.Retry.RequireIdempotencyKey = !p.Retry.RequireIdempotencyKey },
		func() { p.Retry.WaitForBreaker = !p.Retry.WaitForBreaker },
		func() {
			p.Retry.SDKRetriesMode = []retry.SDKRetriesMode{retry.SDKNone, retry.SDKStainless, retry.SDKAlways}[g.r.IntN(3)]
		},
		func() {
			p.Retry.BufferBody = []int64{0, 1, 1000, 64 << 10, 3 << 20, 1 << 30, int64(g.r.IntN(1 << 30))}[g.r.IntN(7)]
		},
		func() { p.Retry.Hedge.Delay = g.dur() },
		func() { p.Retry.Hedge.Quantile = g.ratio() },
		func() { p.Retry.Hedge.Max = g.count(1, 10) },
		func() { p.Retry.Budget = g.budget() },
		func() { p.Breaker = g.breaker() },
		func() { p.Credits.Enabled = !p.Credits.Enabled },
		func() { p.Credits.Cooldown = g.dur() },
		func() { p.Credits.MaxKeys = g.count(1, 1<<20) },
		func() { p.Credits.RemainingHeader = []string{"", "X-Credits-Remaining", "x-left"}[g.r.IntN(3)] },
		func() { p.Credits.RemainingField = []string{"", "meta.imports_remaining", "left"}[g.r.IntN(3)] },
		func() { p.Pacing.MaxWait = []time.Duration{-1, 0, g.dur()}[g.r.IntN(3)] },
		func() { p.Pacing.MaxWindow = g.dur() },
		func() { p.Pacing.Scope = []pacing.Scope{pacing.ScopeHost, pacing.ScopeRoute}[g.r.IntN(2)] },
		func() { p.Pacing.Rate = float64(g.r.IntN(1e6)) / 7 },
		func() { p.Pacing.Burst = g.count(0, 1<<20) },
		func() { p.Pacing.MaxKeys = g.count(1, 1<<20) },
		func() { p.Limit.Max = g.count(0, 1<<20) },
		func() { p.Limit.MaxWait = []time.Duration{-1, 0, g.dur()}[g.r.IntN(3)] },
		func() { p.Limit.Scope = []limit.Scope{limit.ScopeHost, limit.ScopeRoute}[g.r.IntN(2)] },
		func() { p.Limit.Adaptive = !p.Limit.Adaptive },
		func() { p.Limit.MinLimit = g.count(0, 1<<20) },
		func() { p.Limit.MaxKeys = g.count(1, 1<<20) },
		func() { p.AttemptTimeout = g.timeout() },
		func() { p.Timeout = g.timeout() },
		func() { p.BodyIdleTimeout = g.timeout() },
		func() { p.RetryStatuses = g.statuses() },
		func() { p.NoRetryStatuses = g.statuses() },
		func() { p.NoRetry = !p.NoRetry },
		func() { p.NoBreaker = !p.NoBreaker },
		func() { p.NoTracing = !p.NoTracing },
		func() { p.NoPacing = !p.NoPacing },
		func() { p.RefusalsAs503 = !p.RefusalsAs503 },
		func() { p.IdempotencyKey = !p.IdempotencyKey },
	}
	n := g.r.IntN(8)
	if def {
		n = g.r.IntN(len(steps))
	}
	for range n {
		steps[g.r.IntN(len(steps))]()
	}
	// The pacing and limit scopes a file spells: an empty one is "host".
	if p.Pacing.Scope == "" && !reflect.ValueOf(p.Pacing).IsZero() {
		p.Pacing.Scope = pacing.ScopeHost
	}
}

var genPatterns = []string{"GET /v1/jobs/{id}", "POST /v1/enhancements", "/v1/exports/", "GET api.example.com/v1/", "DELETE /v1/lists/{id}", "/", "Op.Name", "GET /a/{rest...}"}

func (g genConfig) config() Config {
	var cfg Config
	g.change(&cfg.Default, true)
	if g.maybe() {
		cfg.RouteHeader = "X-Amz-Target"
	}
	for _, pat := range genPatterns {
		if g.r.IntN(2) == 0 || (pat == "Op.Name" && cfg.RouteHeader == "") {
			continue
		}
		if cfg.Endpoints == nil {
			cfg.Endpoints = map[string]Policy{}
		}
		p := cfg.Default
		p.Breaker, p.Retry.Budget = breaker.Policy{}, retry.BudgetPolicy{}
		g.change(&p, false)
		cfg.Endpoints[pat] = p
	}
	return cfg
}

// TestConfigRoundTripGenerated: a Config built in code, of values a file
// can hold, that NewStack accepts, is written by json.Marshal and read back
// by ParseConfig as the same policies, resolved.
func TestConfigRoundTripGenerated(t *testing.T) {
	g := genConfig{rand.New(rand.NewPCG(1, 2))}
	stub := RoundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("not sent") })
	tested := 0
	for i := range 3000 {
		cfg := g.config()
		if _, err := NewStack(stub, cfg); err != nil {
			continue // contradicting time bounds
		}
		tested++
		want := cfg
		want.Default = mustResolve(cfg.Default)
		if cfg.Endpoints != nil {
			want.Endpoints = map[string]Policy{}
			for k, p := range cfg.Endpoints {
				want.Endpoints[k] = mustResolve(p)
			}
		}
		out, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("#%d: json.Marshal() error = %v", i, err)
		}
		back, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("#%d: ParseConfig(%s) error = %v", i, out, err)
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("#%d: read back\n%+v\nwant\n%+v\nfrom %s", i, back, want, out)
		}
	}
	if tested < 500 {
		t.Errorf("only %d of 3000 generated configs were accepted", tested)
	}
}
