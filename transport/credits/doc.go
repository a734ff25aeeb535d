// Package credits is an http.RoundTripper that stops sending requests to a
// route once it has answered 402 Payment Required, until the account can
// pay again.
//
// A 402 latches the request's route: later requests to it are refused
// without being sent, with an [*Error] (errors.Is
// apierror.ErrInsufficientCredits; an [errclass.Refusal], so retry does not
// retry it). Other routes, and other methods on the same path, go on. After
// [Policy.Cooldown] one request at a time is let through as a probe:
//
//   - answered 402, the latch holds and its cooldown starts again;
//   - answered 5xx or 429, or with no response at all (a transport error,
//     a panic below), the latch holds too, as those say nothing about
//     payment, and the next probe waits another cooldown;
//   - answered anything else, the latch is released;
//   - canceled by the caller, nothing was learned: the next request may
//     probe at once.
//
// [Transport.Reset] releases every latch (credits were bought, the card was
// updated); [Transport.Latched] lists them for a health endpoint;
// [Policy.OnLatch] is told of every change.
//
// # Anticipating the 402
//
// Some APIs say how many credits are left before they run out, in a header
// or in the body of each answer ("Check meta.imports_remaining after
// enhancement requests to anticipate" a 402, says one). Name the signal in
// [Policy.RemainingHeader] or [Policy.RemainingField] and a count of zero or
// less latches the route at once, as a 402 would. A header is read as the
// response arrives. A body field is read as the caller reads the body,
// never ahead of it: a copy of the first [MaxPrefix] bytes the caller read
// is looked at when the caller reaches the end of the body or closes it,
// so the route latches then, not when RoundTrip returns. Only 2xx responses
// with a JSON content type are watched. A body left gzip-encoded (the
// caller asked for compression itself) is looked at decompressed: what
// the first MaxPrefix bytes read decompress to, up to MaxPrefix bytes. [Transport.Remaining] reports the
// last count per route; [Policy.OnRemaining] is told each one.
//
// The layer is on wherever it sits in a chain. Put it only in front of
// endpoints where one 402 means the account cannot pay for any of them
// for a while, as with a prepaid-credits API's submit endpoint. Elsewhere a
// 402 may concern one request only — at Stripe it is a declined card, and
// the next customer's card may be fine — and latching would refuse good
// requests.
//
// # Keys
//
// A latch belongs to a key: [Policy.Key]'s result (a stack passes the
// matched route pattern), or by default the method, the scheme and host
// (lower-cased, without a default port) and the cleaned path, with no query:
// "POST https://api.example.com/v1/jobs". Cleaning decodes escapes of
// unreserved characters, upper-cases other escapes (%2F stays an escape),
// then applies [path.Clean], which also drops a trailing slash; so
// /v1//jobs/./x, /v1/jobs/x/ and /v1/%6Aobs/x share one latch. Merging
// spellings can only make the layer refuse more, never let a latched route
// through.
//
// A latched key is never forgotten to make room. At most [Policy.MaxKeys]
// routes are latched; a 402 on one more latches its method and host
// instead ("POST https://api.example.com"), coarser but nothing is lost.
//
// # Cost
//
// While no latch is set, a request costs two atomic loads and allocates
// nothing: keys are computed only when some latch is set or a 402 arrives.
// A RemainingHeader costs a header lookup per response, and the key (one
// allocation) and a map write under the lock when the header is there. A
// RemainingField wraps the body of each successful JSON response: one
// allocation, a copy of what the caller reads (up to MaxPrefix) into a
// pooled buffer, then one scan of that prefix that allocates nothing, and
// the key. About 1µs and 2 allocations per response in all. A
// gzip-encoded body costs a decompression of that prefix, with a pooled
// reader.
//
// # Fleets
//
// With [Policy.Fleet] set, latches are shared by the replicas of a fleet
// (see package fleet): a latch set here (a 402, or a report of no credits
// left) is published under its key, "host:" and the key for a host latch,
// until its cooldown ends; a request whose route or host another replica
// latched is refused with an [*Error] (its Fleet set) without being sent.
// Only the replica that latched probes: while its probe is out the fleet's
// deadline is extended by a cooldown, and the probe's release clears it
// everywhere, as [Transport.Reset] clears this replica's latches (not the
// other replicas': the Store cannot list them; they end with their
// cooldown or their own probe). Other replicas see a latch one propagation delay after
// the 402 (for Redis, one pub/sub hop); a request sent within it is
// answered 402 and latches that replica too. A latch of this replica
// decides alone for its keys.
//
// Reading the fleet's latches costs every request two lookups in the
// Store's mirror, with no allocation: both keys are spelled in a pooled
// buffer (a [Policy.Key] or [Policy.Route] costs what it allocates, a
// path with escapes one allocation).
//
// # Placement
//
// Below retry (so that every attempt is checked and a refusal ends the
// retries at once) and above the circuit breaker and any waits (so that a
// refused request neither counts as a breaker outcome nor waits for a
// slot it will not use).
package credits
