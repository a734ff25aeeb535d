package credits

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/fleet"
)

// Defaults applied to the zero fields of a [Policy].
const (
	DefaultCooldown = time.Minute
	DefaultMaxKeys  = 1000
)

// Policy configures a [Transport]. The zero Policy latches each method and
// cleaned URL on its first 402, refuses it for a minute, then lets one probe
// through; it keeps at most 1000 route latches (and then at most 1000 host
// latches: see MaxKeys).
type Policy struct {
	// Cooldown is how long a latch refuses requests before it lets one
	// probe through to see whether the account can pay again. It starts
	// again after every probe that does not release the latch. Zero means
	// one minute.
	Cooldown time.Duration

	// MaxKeys bounds the route latches kept at once. A latched route is
	// never dropped to make room: when MaxKeys routes are latched, a 402 on
	// another route latches its method and host instead ("POST
	// https://api.example.com"), refusing every request of that method to
	// that host until a probe releases it. Host latches are bounded by
	// MaxKeys too; a 402 that finds both sets full is passed on without
	// latching anything. Zero means 1000.
	MaxKeys int

	// Key names the latch a request belongs to: requests with one key share
	// one latch. Nil, or an empty result, means the method, the scheme and
	// host, and the cleaned path: "POST https://api.example.com/v1/jobs"
	// (see the package documentation for the cleaning rules). Key is called
	// outside every lock, only when some latch is set, a 402 arrived or a
	// count of credits left was read (then maybe as the body is read).
	Key func(*http.Request) string `json:"-"`

	// Route, if set (and Key is not), names the route of a request in
	// place of its cleaned path, e.g. the path of the endpoint pattern it
	// matched ("/v1/jobs/{id}"): the key is then the method, the scheme and
	// host (normalised as for the default key) and the route, so every job
	// id shares one latch. An empty result means the cleaned path.
	Route func(*http.Request) string `json:"-"`

	// Classifier labels a probe's outcome, as it does for every other layer
	// of a policy: an outcome it calls retryable or a server fault (429,
	// 5xx but 501 and 505, timeouts, resets, with [errclass.Classify]) says
	// nothing about credits and keeps the latch; any other answer but a 402
	// releases it. A 402 is the latch's own signal, whatever the
	// classifier says. Nil means [errclass.Classify].
	Classifier errclass.Classifier `json:"-"`

	// OnLatch, if set, is told when a latch is set (latched is true) and
	// when it is released (by a probe or [Transport.Reset]); key is the
	// latch's key, as [Transport.Latched] lists it. Calls are delivered
	// one at a time, in the order of the changes, outside every lock, on
	// the goroutine of a request (or Reset) that made a change — not
	// necessarily the one that made that change. It may call back into the
	// Transport.
	OnLatch func(key string, latched bool) `json:"-"`

	// RemainingHeader, if set, names a response header that carries the
	// credits the account has left, such as "X-Credits-Remaining": an
	// integer, read from every response as it arrives. Empty means no
	// header is read.
	RemainingHeader string

	// RemainingField, if set, is the dotted path of a JSON integer in
	// successful responses that carries the credits left, such as
	// "meta.imports_remaining" for {"meta": {"imports_remaining": 3}}. It is
	// read only from 2xx responses with a JSON content type, and only as the
	// caller reads the body: the layer never reads ahead of the caller, and
	// looks only at the first 4 KiB ([MaxPrefix]), decompressed if the
	// body is gzip-encoded (see the package documentation). The value is
	// taken when the caller reaches the end of the body, or closes it
	// having read past the value. Empty means no body is looked at.
	//
	// When either signal reports zero or less, the request's route is
	// latched as a 402 would latch it (same cooldown and probes), before
	// the 402 comes. A positive value never releases a latch: only a probe
	// or [Transport.Reset] does. Malformed or absent values are ignored.
	RemainingField string

	// OnRemaining, if set, is told every remaining-credits value read
	// (see RemainingHeader and RemainingField), with the route's key as
	// [Transport.Remaining] lists it: a gauge for a metric. It is called
	// outside every lock, on the goroutine that read the value (for a body
	// field, the caller's, inside its Read or Close), possibly concurrently
	// with itself; it may call back into the Transport.
	OnRemaining func(key string, n int64) `json:"-"`

	// Fleet, if set, shares latches with the other replicas of a fleet
	// (see the package documentation): a latch set here is published
	// under its key ("host:" and the key for a host latch), and a request
	// whose route or host another replica latched is refused with an
	// [*Error] without being sent, until that replica's probe releases it
	// or its cooldown ends. Nil means local latches only, at no cost. Code
	// only.
	Fleet fleet.Store `json:"-"`
}

// withDefaults returns p with its zero fields filled in.
func (p Policy) withDefaults() Policy {
	if p.Cooldown <= 0 {
		p.Cooldown = DefaultCooldown
	}
	if p.MaxKeys <= 0 {
		p.MaxKeys = DefaultMaxKeys
	}
	return p
}
