// Package pacing is an http.RoundTripper that makes requests wait, before
// they are sent, for the throttle window a server announced, instead of
// letting each one discover the 429 by itself.
//
// A response opens a window for its key when it says to hold back:
//
//   - a 429 or 503 with Retry-After (delta-seconds or an HTTP-date);
//   - the IETF httpapi RateLimit field (draft-ietf-httpapi-ratelimit-headers,
//     RFC 9651 structured fields) with a member whose remaining quota is
//     zero: RateLimit: "default";r=0;t=30 opens a 30-second window; without
//     t, the window w of RateLimit-Policy's member of that name
//     ("default";q=100;w=60) counts; the earlier drafts' Dictionary
//     "limit=100, remaining=0, reset=30" is read too;
//   - RateLimit-Remaining or X-RateLimit-Remaining at zero with the Reset
//     of the same family (on a 429, the Reset alone). A Reset is
//     delta-seconds, or a Unix time in seconds when it is larger than a
//     year of seconds (31,536,000): GitHub sends the latter, IETF drafts
//     the former, and neither kind of value can be mistaken for the other.
//
// Later requests to the key wait on a timer until the window ends, then go.
// A request that would wait longer than [Policy.MaxWait] (30s by default,
// as retry's MaxRetryAfter), or past its context's deadline, is refused at
// once with an [*Error] carrying the wait it refused; it is an
// [errclass.Refusal], so retry does not retry it. A request whose context
// ends while it waits returns the context's error. Nothing is sent in
// either case. A hedge (an attempt whose [errclass.Attempt] has Hedge set)
// never waits: it would leave with the attempt it hedges when the window
// opens, a second request to a server that asked for fewer, so it is
// refused at once instead, and retry sends no further hedge. A window only
// ever grows; the longest of the signals in one
// response counts; one longer than [Policy.MaxWindow] (5 minutes) counts as that long;
// malformed values are ignored.
//
// [Policy.Rate] adds a configured rate per key: a token bucket
// ([golang.org/x/time/rate]) of Rate requests a second and [Policy.Burst]
// tokens; a request waits for its token within the same bounds.
//
// # Keys
//
// By default one key per scheme and host, "https://api.example.com": rate
// limits belong to an account, not to an endpoint, and the method is never
// part of a key. [ScopeRoute] gives each route its own key,
// "https://api.example.com/v1/jobs" (the cleaned path, or [Policy.Route]'s
// name); [Policy.Key] names keys as it likes. At most [Policy.MaxKeys]
// keys are kept; one with an open window is never dropped.
//
// # Cost
//
// While no window is open anywhere and no Rate is set, a request costs one
// atomic load and allocates nothing; each response costs a few header map
// lookups (about 40ns in all on a 2-core VM), and up to about 0.8µs when
// it carries RateLimit headers to parse, still without allocating. The
// clock is read only when a response opens a window or a window is open
// (on some VMs time.Now alone costs 300ns). Only a response that opens a
// window, and requests while one is open, compute their key (one
// allocation) and look it up. A Rate costs every request its key, a
// lookup and a token reservation: about 2µs and 2 allocations.
//
// # Placement
//
// Below retry, credits and the circuit breaker (a refused request should
// not wait) and above a concurrency limit and the attempt timeout (a
// request waiting for its window should neither hold a slot nor spend its
// attempt's time). Below retry, a request's retry, whose backoff the 429's
// Retry-After already set, finds the window ending as it comes.
// [Policy.OnWait] and [Policy.OnRefuse] tell tracing and metrics.
//
// # Fleets
//
// With [Policy.Fleet] set, windows and rates are shared by the replicas of
// a fleet (see package fleet): a window this replica learns is published
// under its key, and a request waits for the later end of its key's
// window here and in the fleet's mirror. A [Policy.Rate] becomes the
// fleet's: each request asks [fleet.Store.Reserve] for a grant instead of
// the local bucket, waiting (within MaxWait, counted over every round,
// and its deadline) and asking again when refused. That may cost one
// round trip per request (for Redis, one GCRA call); when the store's
// backend is down it answers from a local bucket of the rate divided by
// the fleet's replicas. Without a Rate, sharing costs a request one
// lookup in the mirror and the key (one allocation for the default host
// key).
package pacing
