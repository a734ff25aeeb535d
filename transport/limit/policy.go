package limit

import (
	"context"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// Defaults applied to the zero fields of a [Policy].
const (
	// DefaultMaxWait bounds a request's time in the queue. A second is
	// long next to a healthy API's latency and short next to a caller's
	// timeout: a queue that does not move within it is not going to.
	DefaultMaxWait = time.Second
	// DefaultMaxKeys bounds the keys kept at once.
	DefaultMaxKeys = 1000
)

// Scope names what one limit covers; see [Policy.Scope].
type Scope string

// The scopes of [Policy.Scope].
const (
	// ScopeHost, the default, gives each scheme and host one limit.
	ScopeHost Scope = "host"
	// ScopeRoute gives each route of a host its own limit: [Policy.Route]'s
	// name for the request, or its cleaned path.
	ScopeRoute Scope = "route"
)

// Policy configures a [Transport]. The zero Policy limits nothing: Max is
// 0, and [New] returns a Transport that passes every request through.
type Policy struct {
	// Max is how many requests of one key may be in flight at once, their
	// response bodies still open. Zero (or negative) turns the limit off.
	Max int

	// MaxWait is the longest a request queues for a slot before it is
	// refused with an [*Error]. Zero means 1s; a negative MaxWait never
	// queues: a request that finds no free slot is refused at once.
	MaxWait time.Duration

	// Scope says what one limit covers: [ScopeHost] (the default, also
	// meant by "") or [ScopeRoute].
	Scope Scope

	// Route, if set, names a request's route for [ScopeRoute] in place of
	// its cleaned path, e.g. the endpoint pattern it matched
	// ("/v1/jobs/{id}"), so every job id shares one limit. An empty result
	// means the cleaned path. A stack sets it. Code only.
	Route func(*http.Request) string `json:"-"`

	// Adaptive moves each key's limit between MinLimit and Max (see
	// "Adaptive limits" in the package documentation). False keeps it at
	// Max.
	Adaptive bool

	// MinLimit is the floor of an adaptive limit. Zero means 1; it is
	// capped at Max. It matters only with Adaptive.
	MinLimit int

	// Classifier labels each outcome for an adaptive limit. Nil means
	// [errclass.Classify]. It matters only with Adaptive. Code only.
	Classifier errclass.Classifier `json:"-"`

	// MaxKeys bounds the keys kept at once. A key with requests in flight
	// or queued is never dropped; when MaxKeys keys are busy, a request to
	// a new key goes unlimited. Zero means 1000.
	MaxKeys int

	// OnWait, if set, is told of every request that queued and then got a
	// slot: its context (where tracing finds the attempt's span), its key
	// ("https://api.example.com", or with a route
	// "https://api.example.com/v1/jobs") and how long it queued. OnRefuse,
	// if set, is told of every request refused with an [*Error]: its
	// context, its key and how long it queued. Both are called on the
	// request's goroutine, outside every lock, possibly concurrently with
	// themselves. A stack points them at its spans and metrics. Code only.
	OnWait   func(ctx context.Context, key string, d time.Duration) `json:"-"`
	OnRefuse func(ctx context.Context, key string, d time.Duration) `json:"-"`
}

// withDefaults returns p with its zero fields filled in.
func (p Policy) withDefaults() Policy {
	if p.Max < 0 {
		p.Max = 0
	}
	if p.MaxWait == 0 {
		p.MaxWait = DefaultMaxWait
	}
	if p.Scope == "" {
		p.Scope = ScopeHost
	}
	if p.MinLimit <= 0 {
		p.MinLimit = 1
	}
	p.MinLimit = min(p.MinLimit, max(p.Max, 1))
	if p.Classifier == nil {
		p.Classifier = errclass.Classify
	}
	if p.MaxKeys <= 0 {
		p.MaxKeys = DefaultMaxKeys
	}
	return p
}
