// Package breaker is an http.RoundTripper that stops sending requests to a
// server that keeps failing, built on github.com/sony/gobreaker/v2.
//
// Outcomes are counted by [errclass], not by Go error: 5xx responses,
// timeouts and connection failures are failures; 2xx, 3xx and client errors
// (400, 404, 422: the server is healthy, the request was wrong) are
// successes; 429 is neither unless [Policy.CountRateLimited] says so; a
// canceled request is never counted. The caller always gets the real
// response, whatever was counted.
//
// A breaker trips when failures are sustained: a failure rate over a rolling
// window with a minimum number of calls, or a run of consecutive failures.
// While open it fails fast with an [*OpenError] (errors.Is ErrOpen, and
// gobreaker.ErrOpenState) without touching the network; after
// [Policy.OpenTimeout] it lets a few probes through (half-open), and their
// outcome closes or re-opens it. There is one breaker per key: per host by
// default, per endpoint or anything else with [Policy.Key]; the set of
// breakers is bounded by [Policy.MaxKeys].
//
// gobreaker runs each breaker's state machine: opening, the open timeout,
// half-open probes and their limit, closing. While a breaker is closed its
// outcomes are counted in a lock-free rolling window of this package, and
// only failures are reported to gobreaker (whose trip test reads that
// window): a success costs one atomic compare-and-swap and one monotonic
// clock read instead of two locked sections and two wall-clock reads.
//
// What counts is the classifier's to say ([errclass.Outcome.ServerFault]):
// server faults (5xx but 501 and 505, timeouts, resets, refused
// connections) are failures; any other answer from the server is a success;
// cancellations, refusals, TLS and DNS misconfiguration and errors the
// classifier does not recognise are not counted. A half-open probe is
// bounded by [Policy.ProbeTimeout]. While a breaker is closed, a response
// whose body a layer below watches (the transport package's body idle
// timeout) is counted when its body is done: a failure if the body was cut
// for stalling, a success otherwise. A body that breaks in other ways after
// the headers is the caller's read error and not seen here, and a half-open
// probe is decided at its headers.
//
// Place the breaker inside retry (retry → breaker → base), so that every
// attempt is counted and an open breaker ends the retries at once: its
// errors implement [errclass.Refusal], which retry does not retry unless its
// policy asks it to wait for the breaker. Counting attempts, the breaker
// must not mistake failures that retries recover for a failing server: its
// defaults trip when 80 % of 20 or more attempts fail (a server that fails
// every first attempt and answers every retry fails 50 %), or on 10
// failures in a row, and break for 5 s. See [DefaultFailureRatio] for the
// reasoning.
package breaker
