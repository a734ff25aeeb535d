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
//
// # Fleets
//
// With [Policy.Fleet] set, a breaker is shared by the replicas of a fleet
// (see package fleet), through a gate in front of each replica's
// gobreaker, which cannot be forced open:
//
//   - Every counted failure is added to the fleet's count for the key over
//     [Policy.Window]. When that count reaches [Policy.ConsecutiveFailures],
//     or this replica's own breaker opens, the fleet's breaker opens for
//     [Policy.OpenTimeout]. The fleet counts failures only (sharing
//     successes would cost a write per request), so it stands in for the
//     run of failures in a row: a success on any replica clears the count,
//     as it ends a run. The failure-rate rule ([Policy.MinRequests],
//     [Policy.FailureRatio]) stays each replica's own.
//   - While the fleet's breaker is open, every replica refuses at once,
//     before gobreaker and without touching the network, with an
//     [*OpenError] whose Shared field is set (errors.Is [ErrOpen], an
//     errclass.Refusal with the time left).
//   - Once it may probe, one replica probes for all: the holder of the
//     fleet's lease for the key ([Policy.ProbeTimeout]) sends the probe,
//     the others refuse as half-open. The probe's success closes the
//     breaker everywhere; its failure opens it again.
//
// So an outage costs the fleet about one ConsecutiveFailures of calls,
// plus what is in flight and what is sent within one propagation delay,
// rather than one per replica. A closed breaker costs each request one
// lookup in the Store's mirror, and a success one more; nothing allocates.
package breaker
