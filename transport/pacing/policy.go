package pacing

import (
	"context"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
)

// Defaults applied to the zero fields of a [Policy].
const (
	// DefaultMaxWait matches retry's DefaultMaxRetryAfter: a window the
	// retry layer would not wait for is not waited for here either.
	DefaultMaxWait = 30 * time.Second
	DefaultMaxKeys = 1000
)

// DefaultMaxWindow is the default of [Policy.MaxWindow].
const DefaultMaxWindow = 5 * time.Minute

// maxSignal saturates what one header can say, before MaxWindow applies.
const maxSignal = 24 * time.Hour

// Scope names what a throttle window (and a configured rate) covers; see
// [Policy.Scope].
type Scope string

// The scopes of [Policy.Scope].
const (
	// ScopeHost, the default, gives each scheme and host one window: rate
	// limits usually belong to the account or the API key, whatever the
	// path or method.
	ScopeHost Scope = "host"
	// ScopeRoute gives each route of a host its own window: the scheme and
	// host, then [Policy.Route]'s name for the request, or its cleaned
	// path.
	ScopeRoute Scope = "route"
)

// Policy configures a [Transport]. The zero Policy paces each host by what
// its responses say (Retry-After on 429 and 503, the RateLimit fields, the
// RateLimit-* and X-RateLimit-* headers), waits at most 30 seconds for a
// window to end, configures no rate of its own and keeps at most 1000
// keys.
type Policy struct {
	// MaxWait is the longest a request waits for its key's window to end
	// (and for a token of Rate) before it is sent. A request that would
	// wait longer, or past its context's deadline, is refused at once with
	// an [*Error]. Zero means 30s; a negative MaxWait never waits: every
	// request that would wait is refused.
	MaxWait time.Duration

	// MaxWindow caps a window learnt from one response. A server that asks
	// for an hour's pause (or a misread timestamp, or a server's bug) holds
	// its key shut for at most this long: then one request goes out to ask
	// again, and a new answer opens a new window. Every request in between
	// is refused at once (the wait is above MaxWait), so a long throttle
	// costs the server one request per MaxWindow, and one bad response
	// never shuts a host, or a fleet, for a day. Zero means 5 minutes.
	MaxWindow time.Duration

	// Scope says what one window covers: [ScopeHost] (the default, also
	// meant by "") or [ScopeRoute]. Key, if set, overrides it.
	Scope Scope

	// Key, if set, names the key a request belongs to: requests with one
	// key share one window and one rate. An empty result means the key
	// Scope gives. It is called only when some window is open, a Rate is
	// set, or a response opened a window. Code only.
	Key func(*http.Request) string `json:"-"`

	// Route, if set, names a request's route for [ScopeRoute] in place of
	// its cleaned path, e.g. the endpoint pattern it matched
	// ("/v1/jobs/{id}"), so every job id shares one window. An empty
	// result means the cleaned path. A stack sets it. Code only.
	Route func(*http.Request) string `json:"-"`

	// Rate, if positive, limits each key to Rate requests a second on
	// average (a token bucket, [golang.org/x/time/rate]): a request
	// without a token waits for one, within MaxWait and its deadline.
	// Zero (the default) sets no rate: only what servers say paces.
	Rate float64

	// Burst is the size of each key's token bucket: how many requests may
	// go at once after a quiet spell. Zero means Rate rounded up, at least
	// 1. It matters only when Rate is set.
	Burst int

	// MaxKeys bounds the keys kept at once. A key with an open window is
	// never dropped to make room; when MaxKeys keys have open windows, a
	// response that would open one more is passed on without opening it
	// (and, with a Rate, a request to a new key goes unpaced). Zero means
	// 1000.
	MaxKeys int

	// OnWait, if set, is told of every request that waits before it is
	// sent: its context (where tracing finds the attempt's span), its key
	// and how long it is to wait. OnRefuse, if set, is told of every
	// request refused with an [*Error]: its context, its key and the wait
	// it refused (the Error's Delay). Both are called on the request's
	// goroutine, outside every lock, possibly concurrently with
	// themselves; they may call back into the Transport. A stack points
	// them at its spans and metrics. Code only.
	OnWait   func(ctx context.Context, key string, d time.Duration) `json:"-"`
	OnRefuse func(ctx context.Context, key string, d time.Duration) `json:"-"`

	// Fleet, if set, shares windows and the rate with the other replicas
	// of a fleet (see "Fleets" in the package documentation): a window
	// opened here is published under its key, a request waits for the
	// later of its key's window here and in the fleet, and a Rate becomes
	// the fleet's, taken through [fleet.Store.Reserve] in place of the
	// local bucket. Nil means local windows and rates only, at no cost.
	// Code only.
	Fleet fleet.Store `json:"-"`
}

// withDefaults returns p with its zero fields filled in.
func (p Policy) withDefaults() Policy {
	if p.MaxWait == 0 {
		p.MaxWait = DefaultMaxWait
	}
	if p.MaxKeys <= 0 {
		p.MaxKeys = DefaultMaxKeys
	}
	if p.MaxWindow <= 0 {
		p.MaxWindow = DefaultMaxWindow
	}
	if p.Rate < 0 {
		p.Rate = 0
	}
	if p.Rate > 0 && p.Burst <= 0 {
		p.Burst = max(1, int(min(p.Rate, 1<<30)+0.999999))
	}
	return p
}
