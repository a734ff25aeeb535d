package breaker

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/fleet"
	"github.com/sony/gobreaker/v2"
)

// State is a breaker's state: closed (requests flow), open (requests fail
// fast) or half-open (a few probes decide).
type State = gobreaker.State

// The states of a breaker.
const (
	StateClosed   = gobreaker.StateClosed
	StateHalfOpen = gobreaker.StateHalfOpen
	StateOpen     = gobreaker.StateOpen
)

// Defaults applied to the zero fields of a [Policy].
//
// The breaker sits below retry and counts attempts, not calls, so its
// defaults are chosen so as not to refuse a server that answers every call
// in the end. Under retry's default of 3 attempts, such a server may fail up
// to two attempts of every three: when every first attempt fails and every
// retry succeeds, half the attempts fail, and with a 50 % trip ratio 40 of
// 50 such calls were refused for 30 s though each would have succeeded. So
// the ratio is 0.8: the breaker opens when fewer than one attempt in five
// succeeds, when retries no longer save most calls (at that rate, 3
// independent attempts all fail half the time) and shedding load helps the
// server more than retrying does. A dead server still trips fast, on 10
// failures in a row (4 calls of 3 attempts). A false trip is still
// possible: a burst of 10 or more concurrent calls whose first attempts
// all fail at once is, to a breaker that sees only attempts, a dead
// server. So the break is short, 5 s (as in .NET's resilience defaults):
// a wrong trip costs seconds, and a dead server gets one probe per 5 s.
const (
	DefaultWindow              = 10 * time.Second
	DefaultMinRequests         = 20
	DefaultFailureRatio        = 0.8
	DefaultConsecutiveFailures = 10
	DefaultOpenTimeout         = 5 * time.Second
	DefaultHalfOpenProbes      = 1
	DefaultMaxKeys             = 1000
	DefaultProbeTimeout        = 10 * time.Second
)

// Policy configures a [Transport]. The zero Policy trips a host's breaker
// when at least 80 % of 20 or more counted attempts in 10 seconds fail, or
// after 10 failures in a row; stays open 5 seconds; then lets one probe
// through. (See the defaults above for why.)
type Policy struct {
	// Window is the rolling window over which the failure rate is measured
	// (in ten buckets). Zero means 10s.
	Window time.Duration

	// MinRequests is how many counted calls the window must hold before the
	// failure rate can trip the breaker. Zero means 20.
	MinRequests uint32

	// FailureRatio trips the breaker when failures / counted calls in the
	// window reach it (and MinRequests is met). Zero (or a negative value,
	// or NaN) means 0.8, above the
	// 2/3 of attempts that fail when retry's 3 attempts save every call.
	FailureRatio float64

	// ConsecutiveFailures trips the breaker after this many failures in a
	// row, whatever the window holds. Zero means 10.
	ConsecutiveFailures uint32

	// OpenTimeout is how long an open breaker fails fast before letting
	// probes through. Zero means 5s.
	OpenTimeout time.Duration

	// HalfOpenProbes is how many requests a half-open breaker lets through;
	// that many successes in a row close it, one failure re-opens it. Zero
	// means 1.
	HalfOpenProbes uint32

	// CountRateLimited counts 429 responses as failures. By default they
	// count as neither success nor failure: throttling is retry's business
	// and says nothing about the server's health.
	CountRateLimited bool

	// MaxKeys bounds how many breakers are kept. When a
	// new key would exceed it, a closed breaker that has not been used
	// recently is dropped. Zero means 1000.
	MaxKeys int

	// ProbeTimeout bounds a half-open probe until its response headers: a
	// probe that hangs would hold its half-open slot, refusing every
	// request to its key, for as long as it hangs. A probe cut by it
	// counts as a failure (the breaker opens again). It cannot be turned
	// off; zero or negative means 10s. A layer below (the transport
	// package's AttemptTimeout) may cut the probe sooner.
	ProbeTimeout time.Duration

	// Key maps a request to its breaker's name. Nil means one breaker per
	// host: scheme://host[:port], in lower case and without the scheme's
	// default port (https://API.example.com:443 and
	// https://api.example.com share one). To break per
	// endpoint instead, return e.g. req.Method + " " + req.URL.Host +
	// req.URL.Path (MaxKeys bounds the set).
	Key func(*http.Request) string `json:"-"`

	// Classifier labels each outcome before it is counted. Nil means
	// [errclass.Classify].
	Classifier errclass.Classifier `json:"-"`

	// OnStateChange, if set, is called after a breaker changes state,
	// outside every lock of the breaker: it may send requests through the
	// Transport or read States. Calls are delivered in order, one at a
	// time, on the goroutine of the request (or States call) that noticed
	// the change, or on one already delivering others: a call made from
	// inside the hook that changes another breaker's state has its change
	// delivered right after the hook returns.
	OnStateChange func(name string, from, to State) `json:"-"`

	// Fleet, if set, shares breakers with the other replicas of a fleet
	// (see "Fleets" in the package documentation): failures are counted
	// fleet-wide, a breaker open anywhere refuses everywhere, and one
	// replica probes for all. Nil means local breakers only, at no cost.
	// Code only.
	Fleet fleet.Store `json:"-"`
}

func (p Policy) withDefaults() Policy {
	if p.Window <= 0 {
		p.Window = DefaultWindow
	}
	if p.MinRequests == 0 {
		p.MinRequests = DefaultMinRequests
	}
	if !(p.FailureRatio > 0) { // zero, negative or NaN
		p.FailureRatio = DefaultFailureRatio
	}
	if p.ConsecutiveFailures == 0 {
		p.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if p.OpenTimeout <= 0 {
		p.OpenTimeout = DefaultOpenTimeout
	}
	if p.HalfOpenProbes == 0 {
		p.HalfOpenProbes = DefaultHalfOpenProbes
	}
	if p.MaxKeys <= 0 {
		p.MaxKeys = DefaultMaxKeys
	}
	if p.ProbeTimeout <= 0 {
		p.ProbeTimeout = DefaultProbeTimeout
	}
	if p.Classifier == nil {
		p.Classifier = errclass.Classify
	}
	return p
}
