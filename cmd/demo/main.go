// Command demo runs a fake partner API on 127.0.0.1 and calls it through a
// resilient client, printing every request and every attempt: a 429 whose
// Retry-After is honoured, a 500 burst that retries absorb, validation and
// credit errors that are never retried, a response reporting no credits
// left that latches the submit endpoint before any 402, a 402 that latches
// it when nothing warned, a Retry-After too long to wait, and an outage
// during which the circuit breaker opens, fails fast and recovers.
//
//	go run ./cmd/demo
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/apierror"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/pacing"
	"github.com/resilient-http/resilient/transport/tracing"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// policyFile holds the demo's per-endpoint policies. Its breaker stays open
// only 800ms, so that the recovery shows within the run.
//
//go:embed policies.json
var policyFile []byte

// openTimeout is the policy file's breaker open_timeout.
const openTimeout = 800 * time.Millisecond

// step is one moment of the demo's story: a request, or something that
// happens in the world (an outage, a top-up).
type step struct {
	what   string
	method string
	path   string
	body   string
	action func(*demo) // instead of a request
}

var story = []step{
	{what: "submit an enhancement batch (rate limited once)", method: http.MethodPost, path: "/v1/enhancements",
		body: `{"persons":[{"name":"Ada Lovelace"},{"name":"Alan Turing"}]}`},
	{what: "fetch the job's results (two server errors first)", method: http.MethodGet, path: "/v1/jobs/job_1/results"},
	{what: "submit a batch with a person missing a name", method: http.MethodPost, path: "/v1/enhancements",
		body: `{"persons":[{"email":"a@example.org"}]}`},
	{what: "create a list whose name is taken", method: http.MethodPost, path: "/v1/lists", body: `{"name":"VIP donors"}`},
	{what: "submit another batch (its response says no credits remain)", method: http.MethodPost, path: "/v1/enhancements",
		body: `{"persons":[{"name":"Grace Hopper"}]}`},
	{what: "submit again at once (latched before any 402)", method: http.MethodPost, path: "/v1/enhancements",
		body: `{"persons":[{"name":"Katherine Johnson"}]}`},
	{what: "fetching results still works while submits are latched", method: http.MethodGet, path: "/v1/jobs/job_1/results"},
	{what: "credits are topped up by one batch; the client releases its latch", action: func(d *demo) {
		d.api.addCredits(1)
		d.stack.ResetCredits()
	}},
	{what: "another client of the account spends that batch", action: func(d *demo) { d.api.spendElsewhere() }},
	{what: "submit another batch (no credits left, and nothing said so)", method: http.MethodPost, path: "/v1/enhancements",
		body: `{"persons":[{"name":"Katherine Johnson"}]}`},
	{what: "submit again at once (the 402 latch holds it back)", method: http.MethodPost, path: "/v1/enhancements",
		body: `{"persons":[{"name":"Katherine Johnson"}]}`},
	{what: "fetch an unknown job", method: http.MethodGet, path: "/v1/jobs/job_404/results"},
	{what: "poll progress (server asks for an hour's pause)", method: http.MethodGet, path: "/v1/jobs/job_1/progress"},
	{what: "poll progress again: paced, refused without asking", method: http.MethodGet, path: "/v1/jobs/job_1/progress"},
	{what: "the API goes down: every call now answers 503", action: func(d *demo) { d.api.down.Store(true) }},
	{what: "fetch results during the outage", method: http.MethodGet, path: "/v1/jobs/job_1/results"},
	{what: "fetch again: the breaker opens mid-request", method: http.MethodGet, path: "/v1/jobs/job_1/results"},
	{what: "fetch again: refused at once, nothing sent", method: http.MethodGet, path: "/v1/jobs/job_1/results"},
	{what: "the API recovers; the breaker's open timeout passes", action: func(d *demo) {
		d.api.down.Store(false)
		time.Sleep(openTimeout + 100*time.Millisecond)
	}},
	{what: "fetch again: a probe goes through and closes the breaker", method: http.MethodGet, path: "/v1/jobs/job_1/results"},
}

// notes holds lines to print after the current request's trace.
type notes struct {
	mu    sync.Mutex
	lines []string
}

func (n *notes) add(line string) {
	n.mu.Lock()
	n.lines = append(n.lines, line)
	n.mu.Unlock()
}

func (n *notes) flush(w io.Writer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.lines {
		fmt.Fprintln(w, l)
	}
	n.lines = n.lines[:0]
}

// demo is what the story's steps act on.
type demo struct {
	w      io.Writer
	api    *fakeAPI
	client *http.Client
	stack  *transport.Stack
	trees  *treePrinter
	notes  *notes
}

func run(w io.Writer) error {
	api, err := startFakeAPI()
	if err != nil {
		return err
	}
	defer api.Close()

	// OpenTelemetry: the demo prints each request's trace as a tree, and
	// also exports it over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
	trees := &treePrinter{}
	res := demoResource(context.Background(), os.Stderr)
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSpanProcessor(trees)}
	exp, err := otlpFromEnv(os.Stderr)
	if err != nil {
		return err
	}
	if exp != nil {
		fmt.Fprintf(w, "exporting traces over OTLP/HTTP to %s\n", exp.url)
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	defer tp.Shutdown(context.Background())
	metrics := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics))
	defer mp.Shutdown(context.Background())

	// Policies per endpoint come from a file operators can tune; code adds
	// only the hooks and the telemetry providers.
	cfg, err := transport.ParseConfig(policyFile)
	if err != nil {
		return err
	}
	notes := &notes{}
	cfg.Default.Breaker.OnStateChange = func(name string, from, to breaker.State) {
		notes.add(fmt.Sprintf("  ⚡ breaker %s: %v → %v", name, from, to))
	}
	// The submit endpoint's credits: say what the latch learns. Its
	// policy reads "meta.imports_remaining" from every accepted submit.
	submit := cfg.Endpoints["POST /v1/enhancements"]
	submit.Credits.OnRemaining = func(key string, n int64) {
		notes.add(fmt.Sprintf("  ◔ %s: %d credit(s) left", key, n))
	}
	submit.Credits.OnLatch = func(key string, latched bool) {
		change := "released"
		if latched {
			change = "latched"
		}
		notes.add(fmt.Sprintf("  ⛔ credits %s: %s", key, change))
	}
	cfg.Endpoints["POST /v1/enhancements"] = submit
	cfg.Tracing = tracing.Config{TracerProvider: tp, MeterProvider: mp}
	// Any existing client: NewClient keeps its settings and adds the whole
	// stack (tracing → retry → tracing per attempt → breaker → attempt
	// timeout → its transport), per endpoint.
	existing := &http.Client{Timeout: 30 * time.Second}
	client, err := transport.NewClient(existing, cfg)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	stack := client.Transport.(*transport.Stack)
	fmt.Fprintf(w, "policies: %d endpoints from policies.json, the rest on the default\n", len(cfg.Endpoints))

	d := &demo{w: w, api: api, client: client, stack: stack, trees: trees, notes: notes}
	fmt.Fprintf(w, "fake partner API on %s\n", api.URL)
	for _, s := range story {
		if s.action != nil {
			fmt.Fprintf(w, "\n~ %s\n", s.what)
			s.action(d)
			notes.flush(w)
			continue
		}
		if err := d.do(s); err != nil {
			return err
		}
	}
	return printMetrics(w, metrics)
}

func (d *demo) do(s step) error {
	w := d.w
	fmt.Fprintf(w, "\n%s %s — %s\n", s.method, s.path, s.what)
	var body io.Reader
	if s.body != "" {
		body = strings.NewReader(s.body)
	}
	req, err := http.NewRequest(s.method, d.api.URL+s.path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	hits := d.api.hits.Load()
	keyed, distinct := d.api.keyCounts()
	start := time.Now()
	resp, err := d.client.Do(req)
	elapsed := roundDuration(time.Since(start))
	sent := d.api.hits.Load() - hits
	if k, n := d.api.keyCounts(); k > keyed && sent > 1 {
		// Retried with the stack's key: show that every attempt carried the same one.
		defer fmt.Fprintf(w, "    → Idempotency-Key on %d of %d requests, %d distinct: the server can tell a retry from a new submit\n", k-keyed, sent, n-distinct)
	}
	// The spans end with the body, so print the trace after it is closed.
	defer d.notes.flush(w)
	defer d.trees.flush(w)
	if err != nil {
		fmt.Fprintf(w, "  ✗ no response in %s (the API received %d): %v\n", elapsed, sent, err)
		explain(w, err)
		return nil
	}
	defer resp.Body.Close()

	if apiErr := apierror.Decode(resp); apiErr != nil {
		fmt.Fprintf(w, "  ✗ %s in %s: %v\n", resp.Status, elapsed, apiErr)
		explain(w, apiErr)
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  ✓ %s in %s (the API received %d): %s\n", resp.Status, elapsed, sent, strings.TrimSpace(string(b)))
	return nil
}

// roundDuration keeps durations readable: "<1ms", "3ms", "1.01s".
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// explain says what a caller does about each kind of error.
func explain(w io.Writer, err error) {
	var apiErr *apierror.Error
	switch {
	case errors.Is(err, apierror.ErrValidation) && errors.As(err, &apiErr):
		for _, v := range apiErr.Violations {
			fmt.Fprintf(w, "    field %s: %s (%s, input %s)\n", v.Loc, v.Msg, v.Type, v.Input)
		}
	case errors.Is(err, apierror.ErrInsufficientCredits):
		fmt.Fprintln(w, "    → stop submitting batches until credits are replenished")
	case errors.Is(err, breaker.ErrOpen):
		fmt.Fprintln(w, "    → the API is failing; the breaker spares it (and us) until a probe succeeds")
	case errors.Is(err, apierror.ErrRateLimited):
		fmt.Fprintln(w, "    → the wait asked for is longer than the policy allows; try again later")
	case errors.Is(err, pacing.ErrThrottled):
		fmt.Fprintln(w, "    → the server asked us to hold back; no request goes out until its window ends")
	}
}
