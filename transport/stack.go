package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/internal/header"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/fleet"
	"github.com/resilient-http/resilient/transport/idempotency"
	"github.com/resilient-http/resilient/transport/limit"
	"github.com/resilient-http/resilient/transport/pacing"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
)

// Stack is the recommended stack of layers, per endpoint policy:
//
//	tracing (request) → idempotency key (if on) → total timeout → retry → tracing (attempt) → credits (if on) → breaker → pacing → concurrency limit (if on) → attempt timeout → base
//
// It routes each request to the policy of the endpoint that
// [Config.RouteHeader] or [Config.Route] names, if any, else of the most
// specific endpoint pattern that matches it (net/http.ServeMux's own
// matcher, whose recent answers are cached by method, host and path), or
// to the default policy. [Stack.Pattern] tells which endpoint a request
// gets, and [Stack.UnmatchedPatterns] which endpoints no request has had
// yet (a pattern that can never match, such as "/v1/repos/" behind a
// GitHub Enterprise "/api/v3" prefix, lists there).
//
// A Stack is an http.RoundTripper, safe for concurrent use. Build one with
// [NewStack] or [NewClient]. The zero Stack has no layers and no policies:
// it sends each request to http.DefaultTransport as is, as a zero
// http.Client does; Pattern returns "", States an empty map,
// UnmatchedPatterns nil, and ResetCredits does nothing.
type Stack struct {
	next        http.RoundTripper          // the base, below every layer
	mux         *http.ServeMux             // nil without endpoint patterns
	cache       *routeCache                // the mux's recent answers
	routes      map[string]*route          // by endpoint key: pattern or route name
	routeHeader string                     // Config.RouteHeader, canonical
	routeFn     func(*http.Request) string // Config.Route
	endpoints   []*route                   // every endpoint's, by key, for UnmatchedPatterns
	def         *route
	// breakers lists each distinct set of breakers once, the shared one
	// first, for States.
	breakers []namedBreaker
	latches  []*credits.Transport // of the policies with a 402 latch
}

type route struct {
	rt     http.RoundTripper
	policy Policy // as built: resolved, the defaults of its bounds filled in
	key    string // the endpoint's pattern or route name; "" for the default
	// used is set by the first request routed here (checked before it is
	// stored, so that the success path writes no shared cache line).
	used atomic.Bool
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
// that conflict, and for a route name (an endpoint key without "/") when
// neither cfg.RouteHeader nor cfg.Route is set to route by names.
func NewStack(next http.RoundTripper, cfg Config) (*Stack, error) {
	if next == nil {
		next = http.DefaultTransport
	}
	s := &Stack{next: next, routes: make(map[string]*route, len(cfg.Endpoints)),
		routeHeader: http.CanonicalHeaderKey(cfg.RouteHeader), routeFn: cfg.Route}
	if err := checkRouteHeader(cfg.RouteHeader); err != nil {
		return nil, &ConfigError{Field: "route_header", Err: err}
	}
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
	b := &builder{next: next, tracing: cfg.Tracing, fleet: cfg.Fleet, stack: s, pacers: make(map[pacingKey]func(http.RoundTripper) http.RoundTripper)}
	b.tracer = tracing.New(b.tracingConfig(cfg.Default, ""))
	// The stack's budget, built here unless the caller gave one to share:
	// a Config holds no live state, so two stacks built from one share
	// nothing they were not told to.
	b.budget = cfg.Default.Retry.SharedBudget
	if b.budget == nil {
		b.budget = cfg.Default.Retry.Budget.New()
	}
	b.sharedBreaker = breaker.Middleware(b.breakerPolicy(cfg.Default))
	b.defPacing = cfg.Default.Pacing
	b.defLimit = cfg.Default.Limit

	var sharedBT *breaker.Transport
	s.def, sharedBT = b.build("", cfg.Default, true)
	if sharedBT != nil {
		s.breakers = append(s.breakers, namedBreaker{t: sharedBT})
	}
	if len(cfg.Endpoints) == 0 {
		s.latches = b.latches
		return s, nil
	}

	keys := make([]string, 0, len(cfg.Endpoints))
	for p := range cfg.Endpoints {
		keys = append(keys, p)
	}
	sort.Strings(keys) // deterministic errors and States order
	for _, key := range keys {
		if isRouteName(key) {
			if err := checkRouteName(key, cfg.RouteHeader != "" || cfg.Route != nil); err != nil {
				return nil, &ConfigError{Field: endpointPath("endpoints", key), Err: err}
			}
		} else {
			if s.mux == nil {
				s.mux, s.cache = http.NewServeMux(), newRouteCache()
			}
			if err := register(s.mux, key); err != nil {
				return nil, &ConfigError{Field: endpointPath("endpoints", key), Err: err}
			}
		}
		rt, bt := b.build(key, cfg.Endpoints[key], false)
		s.routes[key] = rt
		s.endpoints = append(s.endpoints, rt)
		if bt != nil && bt != sharedBT && !b.shares(cfg.Endpoints[key]) {
			s.breakers = append(s.breakers, namedBreaker{prefix: key, t: bt})
		}
	}
	s.latches = b.latches
	if s.mux == nil {
		return s, nil
	}
	// A catch-all, so that a request no endpoint matches still finds a
	// pattern: without one, ServeMux works out which methods the path would
	// allow (for a 405), which costs a microsecond and a dozen allocations
	// on every request left to the default policy. It fails harmlessly
	// when an endpoint already covers every path; unless an endpoint is "/"
	// itself, it maps to the default policy.
	_ = register(s.mux, "/")
	return s, nil
}

// errNameWithoutRouting is the error for a route name that nothing could
// route a request to.
var errNameWithoutRouting = errors.New(`not a pattern (no "/") but a route name, and no route_header (or Config.Route) routes by names`)

// isRouteName reports whether an endpoint key is a route name rather than
// a ServeMux pattern, which always holds a "/".
func isRouteName(key string) bool { return !strings.Contains(key, "/") }

// checkRouteHeader rejects a RouteHeader that is not a header name (an
// RFC 9110 token); "" is no header.
func checkRouteHeader(h string) error {
	if strings.ContainsFunc(h, func(r rune) bool {
		return r > '~' || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) {
		return fmt.Errorf("want a header name such as \"X-Amz-Target\", got %q", h)
	}
	return nil
}

// register adds pattern to mux, turning ServeMux's panic on a bad or
// conflicting pattern into an error (for a [ConfigError] naming it).
func register(mux *http.ServeMux, pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("endpoint pattern %q: %v", pattern, r)
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
		return fmt.Errorf("endpoint pattern %q: host %q has a port; hosts match without their port", pattern, host)
	}
	// Requests' hosts are matched in lower case (a host names the same
	// server in any case), so a pattern's host in another would never match.
	if lower := strings.ToLower(host); lower != host {
		return fmt.Errorf("endpoint pattern %q: host %q is not in lower case; write %q (hosts match in any case)", pattern, host, lower)
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
	r := s.route(req)
	if !r.used.Load() {
		r.used.Store(true)
	}
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		if r.policy.RefusalsAs503 {
			if resp, ok := refusalResponse(req, err); ok {
				return resp, nil
			}
		}
		return resp, err
	}
	if resp == nil { // possible only with every layer off
		return nil, fmt.Errorf("transport: %T: %w", s.next, errclass.ErrNilResponse)
	}
	return resp, nil
}

// refusalResponse answers a refusal (see [Policy.RefusalsAs503]) as a
// synthetic 503 with Retry-After and [errclass.RefusedHeader]. It reports
// false for any other error, and for a refusal that came as the caller's
// own context ended: that stays an error (the caller is no longer waiting
// for an answer), the refusal as it came.
func refusalResponse(req *http.Request, err error) (*http.Response, bool) {
	out := errclass.Classify(req, nil, err)
	if !out.Refused {
		return nil, false
	}
	layer := "refused"
	var (
		be *breaker.OpenError
		ce *credits.Error
		pe *pacing.Error
		le *limit.Error
	)
	switch {
	case errors.As(err, &be):
		layer = "breaker"
	case errors.As(err, &ce):
		layer = "credits"
	case errors.As(err, &pe):
		layer = "pacing"
	case errors.As(err, &le):
		layer = "limit"
	}
	h := http.Header{"Content-Type": {"application/json"}}
	errclass.MarkRefused(h, layer)
	if d := out.RetryAfter; d > 0 {
		// RFC 9110 §10.2.3 counts whole seconds: round up, so that an SDK
		// honouring it never comes back before the layer lets it through.
		h["Retry-After"] = []string{strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)}
	}
	body, _ := json.Marshal(struct {
		Detail string `json:"detail"`
	}{err.Error()})
	return &http.Response{
		Status:        "503 Service Unavailable",
		StatusCode:    http.StatusServiceUnavailable,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, true
}

// Pattern returns the key of the endpoint whose policy req gets: the name
// that [Config.RouteHeader] or [Config.Route] gave it, else the most
// specific pattern that matches it; "" for the default policy. It is what
// a log line should carry to show which policy a request took (spans show
// it too: their name and url.template carry the pattern's path). It is
// cheap (its answers are cached) and does not count as a match for
// [Stack.UnmatchedPatterns].
func (s *Stack) Pattern(req *http.Request) string {
	if req == nil || req.URL == nil {
		return ""
	}
	if name := s.routedName(req); name != "" {
		return name
	}
	return s.patternOf(req)
}

// UnmatchedPatterns returns, sorted, the endpoint keys (patterns and route
// names) that no request sent through the stack has been routed to since
// it was built: for a health endpoint, where a pattern that can never
// match shows up (its requests silently get the default policy). Routing
// costs one atomic load for this; the list is built only when asked for.
func (s *Stack) UnmatchedPatterns() []string {
	var out []string
	for _, r := range s.endpoints {
		if !r.used.Load() {
			out = append(out, r.key)
		}
	}
	return out
}

// patternOf returns the endpoint pattern that matches req, or "".
func (s *Stack) patternOf(req *http.Request) string {
	if s.mux == nil {
		return ""
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	// A host names the same server in any case (RFC 3986 §3.2.2), and
	// patterns' hosts are in lower case (see register). No allocation
	// for a host in lower case already.
	host = strings.ToLower(host)
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

// route returns the route of req's policy. The zero Stack has none: it
// returns a route with no key.
func (s *Stack) route(req *http.Request) *route {
	if name := s.routedName(req); name != "" {
		return s.routes[name]
	}
	if r, ok := s.routes[s.patternOf(req)]; ok {
		return r
	}
	if s.def == nil {
		return &zeroRoute
	}
	return s.def
}

// routedName returns the endpoint key that [Config.RouteHeader] or
// [Config.Route] gives req, if the stack has such an endpoint, else "".
func (s *Stack) routedName(req *http.Request) string {
	if s.routeFn == nil && s.routeHeader == "" {
		return ""
	}
	var name string
	if s.routeFn != nil {
		name = s.routeFn(req)
	} else if v, _ := header.Lookup(req.Header, s.routeHeader); isRouteName(v) {
		name = v // a name, never a pattern: a header picks no pattern's policy
	}
	if _, ok := s.routes[name]; !ok {
		return ""
	}
	return name
}

// zeroRoute is the zero Stack's route: no key, never used to send.
var zeroRoute route

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
	fleet         fleet.Store     // Config.Fleet: given to every layer whose policy has none
	budget        *retry.Budget
	sharedBreaker func(http.RoundTripper) http.RoundTripper
	stack         *Stack
	defPacing     pacing.Policy                             // the default policy's
	defPacer      func(http.RoundTripper) http.RoundTripper // and its middleware, once built
	// pacers holds one pacing middleware (one set of windows) per
	// distinct pacing policy without hooks of its own.
	pacers map[pacingKey]func(http.RoundTripper) http.RoundTripper
	// limiters holds one limit middleware (one set of slots) per distinct
	// limit policy that may be shared; defLimit is the default policy's.
	defLimit  limit.Policy
	defLimitP Policy // the default policy, whose classifier its limits use
	limiters  map[limitKey]func(http.RoundTripper) http.RoundTripper
}

// limitKey is what makes two limit policies that may share slots the same,
// their defaults filled in.
type limitKey struct {
	max, minLimit, keys int
	maxWait             time.Duration
	adaptive            bool
}

// limiter returns the limit middleware of policy p (the endpoint pattern's
// policy, or the default's with def set), or nil when its limit is off. An
// endpoint's zero Limit uses the default policy's. Limits with equal
// policies share their slots, unless they have hooks of their own, a
// route scope (each endpoint's route is its own key: the endpoint's path,
// unless Route is set) or, adaptive, a classifier of their own. Each
// reports waits and refusals to tracing, then to the policy's own hooks.
func (b *builder) limiter(p Policy, pattern string, def bool) func(http.RoundTripper) http.RoundTripper {
	lp := p.Limit
	if def {
		b.defLimitP = p
	} else if reflect.ValueOf(lp).IsZero() {
		lp, p = b.defLimit, b.defLimitP
	}
	if lp.Max <= 0 {
		return nil
	}
	ownClassifier := p.Classifier != nil || len(p.RetryStatuses) > 0 || len(p.NoRetryStatuses) > 0
	shared := lp.Route == nil && lp.Classifier == nil && lp.OnWait == nil && lp.OnRefuse == nil &&
		lp.Scope != limit.ScopeRoute && !(lp.Adaptive && ownClassifier)
	k := limitKey{max: lp.Max, minLimit: max(lp.MinLimit, 0), keys: max(lp.MaxKeys, 0), maxWait: max(lp.MaxWait, -1), adaptive: lp.Adaptive}
	if k.maxWait == 0 {
		k.maxWait = limit.DefaultMaxWait
	}
	if k.keys == 0 {
		k.keys = limit.DefaultMaxKeys
	}
	if !k.adaptive {
		k.minLimit = 0 // unused
	}
	if mw, ok := b.limiters[k]; ok && shared {
		return mw
	}
	if lp.Classifier == nil {
		lp.Classifier = p.classifier()
	}
	lp.OnWait = thenHook(b.tracer.LimitWaited, lp.OnWait)
	lp.OnRefuse = thenHook(b.tracer.LimitRefused, lp.OnRefuse)
	if lp.Scope == limit.ScopeRoute && lp.Route == nil {
		if path := routePath(pattern); path != "" {
			lp.Route = func(*http.Request) string { return path }
		}
	}
	mw := limit.Middleware(lp)
	if shared {
		if b.limiters == nil {
			b.limiters = make(map[limitKey]func(http.RoundTripper) http.RoundTripper)
		}
		b.limiters[k] = mw
	}
	return mw
}

// thenHook returns a wait or refusal hook (pacing's, limit's) that tells
// tracing first, then the policy's own hook, if any.
func thenHook(tracing, own func(context.Context, string, time.Duration)) func(context.Context, string, time.Duration) {
	if own == nil {
		return tracing
	}
	return func(ctx context.Context, key string, d time.Duration) {
		tracing(ctx, key, d)
		own(ctx, key, d)
	}
}

// pacingKey is what makes two pacing policies without hooks the same, their
// defaults filled in.
type pacingKey struct {
	maxWait     time.Duration
	maxWindow   time.Duration
	scope       pacing.Scope
	rate        float64
	burst, keys int
}

// pacer returns the pacing middleware of policy p: the default policy's
// for an endpoint whose Pacing is zero, a shared one for the policies whose
// Pacing is the same and has no hooks, a new one for a Pacing with hooks
// of its own. Each reports waits and refusals to tracing, then to the
// policy's own hooks; each names routes by their endpoint, for
// ScopeRoute, unless its policy sets Route.
func (b *builder) pacer(p Policy, def bool) func(http.RoundTripper) http.RoundTripper {
	pp, fromDef := p.Pacing, def
	if !def && reflect.ValueOf(pp).IsZero() {
		if b.defPacer != nil {
			return b.defPacer
		}
		pp, fromDef = b.defPacing, true
	}
	hooks := pp.Key != nil || pp.Route != nil || pp.OnWait != nil || pp.OnRefuse != nil
	k := pacingKey{maxWait: pp.MaxWait, scope: pp.Scope, rate: max(pp.Rate, 0), burst: max(pp.Burst, 0), keys: max(pp.MaxKeys, 0)}
	if k.maxWait == 0 {
		k.maxWait = pacing.DefaultMaxWait
	}
	if k.maxWindow = pp.MaxWindow; k.maxWindow <= 0 {
		k.maxWindow = pacing.DefaultMaxWindow
	}
	if k.scope == "" {
		k.scope = pacing.ScopeHost
	}
	if k.keys == 0 {
		k.keys = pacing.DefaultMaxKeys
	}
	if k.rate == 0 {
		k.burst = 0 // unused without a rate
	}
	if mw, ok := b.pacers[k]; ok && !hooks {
		return mw
	}
	pp.OnWait = thenHook(b.tracer.PacingWaited, pp.OnWait)
	pp.OnRefuse = thenHook(b.tracer.PacingRefused, pp.OnRefuse)
	if pp.Fleet == nil {
		pp.Fleet = b.fleet
	}
	if pp.Route == nil {
		// Called only while a window is open or a rate is set: routing
		// again then costs what Pattern does.
		s := b.stack
		pp.Route = func(req *http.Request) string { return routePath(s.route(req).key) }
	}
	mw := pacing.Middleware(pp)
	if !hooks {
		b.pacers[k] = mw
	}
	if fromDef {
		b.defPacer = mw
	}
	return mw
}

// shares reports whether p uses the default policy's breakers.
func (b *builder) shares(p Policy) bool { return reflect.ValueOf(p.Breaker).IsZero() }

func (b *builder) breakerPolicy(p Policy) breaker.Policy {
	bp := p.Breaker
	if bp.Classifier == nil {
		bp.Classifier = p.classifier()
	}
	if bp.Fleet == nil {
		bp.Fleet = b.fleet
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

func (b *builder) tracingConfig(p Policy, key string) tracing.Config {
	tc := b.tracing
	tc.Classifier = p.classifier()
	tc.Route = nil
	route := patternPath(key)
	if isRouteName(key) {
		route = key // names the span; tracing sets no url.template for it
	}
	if route != "" {
		tc.Route = func(*http.Request) string { return route }
	}
	return tc
}

// build chains the layers of policy p. def marks the default policy.
func (b *builder) build(pattern string, p Policy, def bool) (*route, *breaker.Transport) {
	rt := b.next
	if p.AttemptTimeout > 0 || p.BodyIdleTimeout > 0 {
		rt = attemptTimeout(p.AttemptTimeout, p.BodyIdleTimeout)(rt)
	}
	if mw := b.limiter(p, pattern, def); mw != nil {
		// Below pacing: a request waiting for a throttle window holds no
		// slot. Above the attempt timeout: queueing spends none of it.
		rt = mw(rt)
	}
	if !p.NoPacing {
		rt = b.pacer(p, def)(rt)
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
		if cp.Fleet == nil {
			cp.Fleet = b.fleet
		}
		if path := routePath(pattern); path != "" {
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
	if p.IdempotencyKey {
		// Above retry (and the total timeout): one key per logical
		// request, the same on every attempt.
		rt = idempotency.New(rt, idempotency.Policy{})
	}
	if tr != nil {
		rt = tr.Request()(rt)
	}
	return &route{rt: rt, policy: p, key: pattern}, bt
}

// routePath returns the route of an endpoint key for the keys of credits
// and pacing: a pattern's path, or "/" and a route name
// ("/DynamoDB_20120810.GetItem"); "" for the default policy.
func routePath(key string) string {
	if key != "" && isRouteName(key) {
		return "/" + key
	}
	return patternPath(key)
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
