// Package redisstate shares a fleet's state on Redis: it implements
// [fleet.Store] on a go-redis [redis.UniversalClient] (single node,
// Sentinel or Cluster, with AUTH and TLS as the client configures them).
//
// What it keeps where:
//
//   - Deadlines (credits latches, throttle windows, open breakers) are keys
//     "<namespace>:u:<kind>:<key>" whose value is a version tag and whose TTL
//     is the deadline: a deadline travels as a remaining duration, so
//     replicas' clocks never meet. SetUntil never shortens a key's TTL.
//   - Every write is also published on the channel "<namespace>:events" (writes
//     queued while a pipeline is out go together in the next one); each
//     Store keeps a local mirror from those messages, and reads the keys
//     again (SCAN) whenever it (re)subscribes, dropping from the mirror
//     the deadlines Redis no longer holds: a Clear published while it was
//     not listening would otherwise refuse requests here until its
//     deadline. (After a restart that lost Redis's data, what other
//     replicas learnt is learnt again; each layer keeps what it learnt
//     itself.) Reads never touch Redis.
//   - Counts (a breaker's failures) travel on the channel only: a replica
//     that was cut off counts what it hears from then on.
//   - Leases are SET NX PX keys "<namespace>:l:<kind>:<key>" holding the
//     holder's random replica id.
//   - The shared rate is redis_rate's GCRA on "<namespace>:r:<key>", timed by
//     Redis's own clock: one round trip per Reserve.
//
// Entries and messages carry a version; a Store ignores versions it does
// not know, so two releases of a rolling deploy read each other safely.
//
// Redis slow, down or partitioned: each call to Redis is bounded by
// Options.OpTimeout (the client must have ContextTimeoutEnabled, which New
// checks). The first failure marks the Store unhealthy and logs one line
// (so does a heartbeat that Redis refuses with an error, a rejected AUTH
// for one: Redis is up, but nothing can be shared through it);
// from then on no call waits on Redis at all: reads serve the mirror,
// writes stay local, Lease is local and Reserve answers from a local
// bucket of the rate divided by Options.Replicas. A background loop pings
// Redis with backoff and, when it answers, resubscribes, reads the keys
// again, logs one line and resumes sharing. [Store.Healthy] and
// [Store.Stats] expose the state for metrics.
package redisstate
