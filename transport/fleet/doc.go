// Package fleet is the shared state of a fleet of replicas that call the
// same partner: what one replica learns (a credits latch, a throttle
// window, an open breaker, failures, a rate) becomes visible to the others.
//
// Shared state is not a layer. Credits, breaker and pacer keep deciding
// locally, exactly as without a fleet; a [Store] only adds what other
// replicas learnt:
//
//   - Reads ([Store.Until], [Store.Count]) come from a local mirror: no I/O,
//     no allocation, no lock held across a call out.
//   - Writes ([Store.SetUntil], [Store.Clear], [Store.Add]) apply to the
//     local mirror at once and are published asynchronously; they never
//     block the caller.
//   - Two calls may cost one bounded round trip: [Store.Reserve] (a shared
//     rate) on every paced request, and [Store.Lease] when a breaker is
//     about to probe.
//
// # Freshness
//
// The mirror is eventually consistent: another replica's write shows after
// the store's propagation delay (for Redis, one pub/sub hop: well under a
// millisecond on a local network). Deadlines travel as remaining durations
// and are kept as local monotonic deadlines, so replicas' clock skew does
// not matter.
//
// # Failure
//
// A store that loses its backend keeps serving its mirror and answers
// from local state: Reserve from a local bucket of the rate divided by the
// number of replicas, Lease from a local lease, writes stay local. No call
// fails and none waits beyond the store's own bound. When the backend is
// back the store resumes sharing by itself.
//
// [Memory] is the in-process implementation: replicas in one process (tests,
// examples) share one Memory through their own [Memory.Replica]. The Redis
// implementation lives in its own module, github.com/resilient-http/resilient/redisstate,
// so this module imports no Redis client.
package fleet
