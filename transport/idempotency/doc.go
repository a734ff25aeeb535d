// Package idempotency is an http.RoundTripper that gives POST and PATCH
// requests an Idempotency-Key header when they have none, so that a
// server that honours the key (Stripe, Adyen, PayPal, the IETF draft
// "The Idempotency-Key HTTP Header Field") can tell a retry from a new
// request, and a client can retry a 5xx to a POST without risking the
// work being done twice.
//
// # One key per logical request
//
// The key is minted once, when the request enters this layer, and sent
// on every attempt made below it. Place the layer above retry (and, when
// there is one, above hedging): each attempt is then a copy of the same
// keyed request. Placed below retry, it would mint a new key per attempt,
// and a server would take each retry for a new request; so never do that.
// transport.NewStack places it, when a policy sets IdempotencyKey, just
// below the request's span and above the total timeout and retry.
//
// # What it touches
//
// Only POST and PATCH: the methods that RFC 9110 does not make
// idempotent and that carry a body to act on. Every other request passes
// through as it is, at no cost. A request that already carries a key (the
// policy's header, or either header errclass recognises: Idempotency-Key,
// X-Idempotency-Key) keeps it: the caller's key, which may name a logical
// operation spanning several calls, always wins.
//
// The caller's request is never modified: the layer sends a shallow copy
// whose header map is a copy with the key added. That copy is the
// response's Request, so resp.Request.Header.Get("Idempotency-Key")
// tells a caller the key that was used, for its logs.
//
// # Keys
//
// By default a key is a UUID version 7 ([UUIDv7], RFC 9562 §5.7): 48 bits
// of Unix time in milliseconds, then 74 random bits from crypto/rand. The
// random bits make two keys collide about as rarely as two random UUIDs
// do within a millisecond; the time prefix keeps keys that a server
// stores in an index close to each other, and tells whoever reads a
// server's log when the logical request began. [Policy.New] takes any
// other generator.
//
// # With retry
//
// errclass.Idempotent reports true for a request that carries
// Idempotency-Key or X-Idempotency-Key, so with this layer above it,
// retry.Policy.RequireIdempotencyKey lets a 5xx to a POST be retried, and
// errclass retries failures that leave it unknown whether the server
// processed the request. A [Policy.Header] of another name is sent, but
// errclass does not recognise it.
package idempotency
