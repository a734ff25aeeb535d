package transport

import (
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
)

// Stack is the recommended stack of layers, per endpoint policy:
//
//	tracing (request) → total timeout → retry → tracing (attempt) → credits (if on) → breaker → attempt timeout → base
//
// It routes each request to the policy of the most specific endpoint
// pattern that matches it (net/http.ServeMux's own matcher, whose recent
// answers are cached by method, host and path), or to the default policy.
// A Stack is an http.RoundTripper, safe for concurrent use. Build one with
// [NewStack] or [NewClient]. The zero Stack has no layers and no policies:
// it sends each request to http.DefaultTransport as is, as a zero
// http.Client does; Pattern returns "", States an empty map, and
// ResetCredits does nothing.
type Stack struct {
	next   http.RoundTripper // the base, below every layer
	mux    *http.ServeMux    // nil without endpoint patterns
	cache  *routeCache       // the mux's recent answers
	routes map[string]*route // by pattern
	def    *route
	// breakers lists each distinct set of breakers once, the shared one
	// first, for States.
	breakers []namedBreaker
	latches  []*credits.Transport // of the policies with a 402 latch
}

type route struct {
	rt     http.RoundTripper
	policy Policy // as built: resolved, the defaults of its bounds filled in
}

type namedBreaker struct {
	prefix string // "" for the shared breakers, else the pattern
	t      *breaker.Transport
}

var _ http.RoundTripper = (*Stack)(nil)

// NewClient returns a copy of c (nil means a zero http.Client) whose
// transport is c's own wrapped in a [Stack] built from cfg. The copy keeps
// c's Jar, Timeout and CheckRedirect; c is not modified. The Stack is
// client.Transport.(*transport.Stack). The common case is one line:
//
//	client, err := transport.NewClient(existing, transport.Config{})
func NewClient(c *http.Client, cfg Config) (*http.Client, error) {
	var out http.Client
	if c != nil {
		out = *c
	}
	s, err := NewStack(out.Transport, cfg)
	if err != nil {
		return nil, err
	}
	out.Transport = s
	return &out, nil
}

// NewStack builds the layers of every policy in cfg over next (nil means
// http.DefaultTransport). It fails, with a [*ConfigError], for a policy
// whose time bounds contradict each other (a Retry-After cap longer than
// the time retries may take, or that longer than the total timeout), and
// for an endpoint pattern that net/http.ServeMux rejects, or two patterns
// that conflict.
func NewStack(next http.RoundTripper, cfg Config) (*Stack, error) {
	if next == nil {
		next = http.DefaultTransport
	}
	s := &Stack{next: next, routes: make(map[string]*route, len(cfg.Endpoints))}
	// Fill in the defaults of the timeouts and retry time bounds, and
	// reject bounds that contradict each other.
	def, err := cfg.Default.resolve("default")
	if err != nil {
		return nil, err
	}
	cfg.Default = def
	if len(cfg.Endpoints) > 0 {
		endpoints := make(map[string]Policy, len(cfg.Endpoints))
		for pattern, p := range cfg.Endpoints {
			if endpoints[pattern], err = p.resolve("endpoints[" + strconv.Quote(pattern) + "]"); err != nil {
				return nil, err
			}
		}
		cfg.Endpoints = endpoints
	}
	b := &builder{next: next, tracing: cfg.Tracing}
	b.tracer = tracing.New(b.tracingConfig(cfg.Default, ""))
	// The stack's budget, built here unless the caller gave one to share:
	// a Config holds no live state, so two stacks built from one share
	// nothing they were not told to.
	b.budget = cfg.Default.Retry.SharedBudget
	if b.budget == nil {
		b.budget = cfg.Default.Retry.Budget.New()
	}
	b.sharedBreaker = breaker.Middleware(b.breakerPolicy(cfg.Default))

	var sharedBT *breaker.Transport
	s.def, sharedBT = b.build("", cfg.Default, true)
	if sharedBT != nil {
		s.breakers = append(s.breakers, namedBreaker{t: sharedBT})
	}
	if len(cfg.Endpoints) == 0 {
		s.latches = b.latches
		return s, nil
	}

	s.mux = http.NewServeMux()
	s.cache = newRouteCache()
	patterns := make([]string, 0, len(cfg.Endpoints))
	for p := range cfg.Endpoints {
		patterns = append(patterns, p)
	}
	sort.Strings(patterns) // deterministic errors and States order
	for _, pattern := range patterns {
		if err := register(s.mux, pattern); err != nil {
			return nil, err
		}
		rt, bt := b.build(pattern, cfg.Endpoints[pattern], false)
		s.routes[pattern] = rt
		if bt != nil && bt != sharedBT && !b.shares(cfg.Endpoints[pattern]) {
			s.breakers = append(s.breakers, namedBreaker{prefix: pattern, t: bt})
		}
	}
	// A catch-all, so that a request no endpoint matches still finds a
	// pattern: without one, ServeMux works out which methods the path would
	// allow (for a 405), which costs a microsecond and a dozen allocations
	// on every request left to the default policy. It fails harmlessly
	// when an endpoint already covers every path; unless an endpoint is "/"
	// itself, it maps to the default policy.
	_ = register(s.mux, "/")
	s.latches = b.latches
	return s, nil
}

// register adds pattern to mux, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func register(mux *http.ServeMux, pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("transport: endpoint pattern %q: %v", pattern, r)
		}
	}()
	// ServeMux matches hosts without their port, so a pattern whose host
	// has one would be accepted and never match.
	host := pattern
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		host = strings.TrimLeft(rest, " \t")
	}
	if i := strings.Index(host, "/"); i >= 0 {
		host = host[:i]
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return fmt.Errorf("transport: endpoint pattern %q: host %q has a port; hosts match without their port", pattern, host)
	}
	mux.Handle(pattern, matched)
	return nil
}

// ErrInvalidRequest is returned, wrapped, for a request that cannot be sent
// at all: nil, or without a URL. It is errclass.ErrInvalidRequest, kept
// under this name; every layer's refusal of such a request matches it.
var ErrInvalidRequest = errclass.ErrInvalidRequest

// RoundTrip sends req through the layers of its endpoint's policy.
func (s *Stack) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil && req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("transport: %w: nil request or URL", ErrInvalidRequest)
	}
	if s.def == nil { // the zero Stack: no layers
		return http.DefaultTransport.RoundTrip(req)
	}
	resp, err := s.route(req).rt.RoundTrip(req)
	if resp == nil && err == nil { // possible only with every layer off
		return nil, fmt.Errorf("transport: %T: %w", s.next, errclass.ErrNilResponse)
	}
	return resp, err
}

// Pattern returns the endpoint pattern whose policy req gets, or "" for the
// default policy.
func (s *Stack) Pattern(req *http.Request) string {
	if s.mux == nil || req == nil || req.URL == nil {
		return ""
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	u := req.URL
	slot := s.cache.slot(req.Method, host, u.Path, u.RawPath)
	if e := slot.Load(); e != nil && e.method == req.Method && e.host == host && e.path == u.Path && e.rawPath == u.RawPath {
		return e.pattern
	}
	pattern := s.match(req, host)
	slot.Store(&routeEntry{method: req.Method, host: host, path: u.Path, rawPath: u.RawPath, pattern: pattern})
	return pattern
}

// match asks the mux which of the endpoint patterns req gets, if any.
//
// ServeMux would redirect some requests rather than serve them, answering
// with a handler of its own and a pattern that does not match the path as
// sent: that is no match. A path it would clean (/v1//jobs/./x) names the
// same resource as the cleaned one, so it gets that path's pattern, and
// the policy (and 402 latch) of the route it spells; a path it would give
// a trailing slash (/v1/exports for the pattern /v1/exports/) names
// another resource, so it gets the default policy.
func (s *Stack) match(req *http.Request, host string) string {
	r := req
	if r.Host != host || r.Method == "" {
		// ServeMux matches hosts against Request.Host, which a client
		// request usually leaves to its URL; and for a client, no method
		// means GET.
		shim := *req
		shim.Host = host
		if shim.Method == "" {
			shim.Method = http.MethodGet
		}
		r = &shim
	}
	h, pattern := s.mux.Handler(r)
	if h != matched {
		cleaned := withCleanPath(r)
		if cleaned == nil {
			return "" // a trailing-slash redirect, or no pattern at all
		}
		if h, pattern = s.mux.Handler(cleaned); h != matched {
			return "" // the cleaned path is redirected too
		}
	}
	if _, ok := s.routes[pattern]; ok {
		return pattern
	}
	return ""
}

func (s *Stack) route(req *http.Request) *route {
	if p := s.Pattern(req); p != "" {
		return s.routes[p]
	}
	return s.def
}

// States returns the state of every circuit breaker, by name: the shared
// breakers under their key ("https://api.example.com"), an endpoint's own
// under "pattern key".
func (s *Stack) States() map[string]breaker.State {
	out := make(map[string]breaker.State)
	for _, nb := range s.breakers {
		for name, st := range nb.t.States() {
			if nb.prefix != "" {
				name = nb.prefix + " " + name
			}
			out[name] = st
		}
	}
	return out
}

// ResetCredits releases every 402 latch (of the policies that turn
// Credits on): call it when credits have been replenished.
func (s *Stack) ResetCredits() {
	for _, ct := range s.latches {
		ct.Reset()
	}
}

// CreditsRemaining returns the last count of remaining credits that a
// response reported, by latch key, for the policies whose Credits read one
// (RemainingHeader or RemainingField): a gauge for a health endpoint.
func (s *Stack) CreditsRemaining() map[string]int64 {
	out := make(map[string]int64)
	for _, ct := range s.latches {
		for k, n := range ct.Remaining() {
			out[k] = n
		}
	}
	return out
}

// CloseIdleConnections closes the idle connections of the transport
// below the stack, if it keeps any, as http.Client expects of its
// transport: client.CloseIdleConnections() reaches it.
func (s *Stack) CloseIdleConnections() {
	if s.next == nil { // the zero Stack
		closeIdle(http.DefaultTransport)
		return
	}
	closeIdle(s.next)
}

// builder assembles the layers of each policy.
type builder struct {
	latches       []*credits.Transport
	next          http.RoundTripper
	tracing       tracing.Config
	tracer        *tracing.Tracer // the default policy's, also fed breaker metrics
	budget        *retry.Budget
	sharedBreaker func(http.RoundTripper) http.RoundTripper
}

// shares reports whether p uses the default policy's breakers.
func (b *builder) shares(p Policy) bool { return reflect.ValueOf(p.Breaker).IsZero() }

func (b *builder) breakerPolicy(p Policy) breaker.Policy {
	bp := p.Breaker
	if bp.Classifier == nil {
		bp.Classifier = p.classifier()
	}
	userHook, tr := bp.OnStateChange, b.tracer
	bp.OnStateChange = func(name string, from, to breaker.State) {
		tr.BreakerStateChanged(name, tracingState(from), tracingState(to))
		if userHook != nil {
			userHook(name, from, to)
		}
	}
	return bp
}

// tracingState maps a breaker state to tracing's, case by case: tracing
// does not import breaker.
func tracingState(s breaker.State) tracing.BreakerState {
	switch s {
	case breaker.StateClosed:
		return tracing.BreakerClosed
	case breaker.StateHalfOpen:
		return tracing.BreakerHalfOpen
	case breaker.StateOpen:
		return tracing.BreakerOpen
	}
	return -1 // counted as "unknown"; the gauge keeps its value
}

func (b *builder) tracingConfig(p Policy, pattern string) tracing.Config {
	tc := b.tracing
	tc.Classifier = p.classifier()
	tc.Route = nil
	if path := patternPath(pattern); path != "" {
		tc.Route = func(*http.Request) string { return path }
	}
	return tc
}

// build chains the layers of policy p. def marks the default policy.
func (b *builder) build(pattern string, p Policy, def bool) (*route, *breaker.Transport) {
	rt := b.next
	if p.AttemptTimeout > 0 || p.BodyIdleTimeout > 0 {
		rt = attemptTimeout(p.AttemptTimeout, p.BodyIdleTimeout)(rt)
	}
	var bt *breaker.Transport
	if !p.NoBreaker {
		mw := b.sharedBreaker
		if !def && !b.shares(p) {
			mw = breaker.Middleware(b.breakerPolicy(p))
		}
		bt = mw(rt).(*breaker.Transport)
		rt = bt
	}
	if p.Credits.Enabled {
		cp := p.Credits.Policy
		if cp.Classifier == nil {
			cp.Classifier = p.classifier()
		}
		if path := patternPath(pattern); path != "" {
			// One latch per endpoint and host, whatever the path's
			// wildcards hold: a 402 for one job is a 402 for all
			// ("POST https://host/v1/jobs/{id}").
			cp.Route = func(*http.Request) string { return path }
		}
		if tr := b.tracer; tr != nil {
			userHook := cp.OnRemaining
			cp.OnRemaining = func(key string, n int64) {
				tr.CreditsRemaining(key, n)
				if userHook != nil {
					userHook(key, n)
				}
			}
		}
		ct := credits.New(rt, cp)
		b.latches = append(b.latches, ct)
		rt = ct
	}
	var tr *tracing.Tracer
	if !p.NoTracing {
		tr = b.tracer // the default policy's, already built for breaker metrics
		if !def {
			tr = tracing.New(b.tracingConfig(p, pattern))
		}
		rt = tr.Attempt()(rt)
	}
	if !p.NoRetry {
		rp := p.Retry
		if rp.Classifier == nil {
			rp.Classifier = p.classifier()
		}
		if rp.SharedBudget == nil {
			// An endpoint's zero Retry.Budget shares the stack's budget;
			// any other gets a budget of its own.
			rp.SharedBudget = b.budget
			if !def && rp.Budget != (retry.BudgetPolicy{}) {
				rp.SharedBudget = rp.Budget.New()
			}
		}
		rt = retry.New(rt, rp)
	}
	if p.Timeout > 0 {
		rt = totalTimeout(p.Timeout)(rt)
	}
	if tr != nil {
		rt = tr.Request()(rt)
	}
	return &route{rt: rt, policy: p}, bt
}

// patternPath returns the path part of a ServeMux pattern:
// "POST api.example.com/v1/jobs/{id}" → "/v1/jobs/{id}".
func patternPath(pattern string) string {
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(rest, " \t")
	}
	if i := strings.Index(pattern, "/"); i >= 0 {
		return pattern[i:]
	}
	return ""
}
