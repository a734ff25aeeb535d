// Package retry is an http.RoundTripper that sends a request again when the
// attempt failed in a way worth repeating, waiting with exponential backoff
// between attempts.
//
// What counts as worth repeating is decided by an [errclass.Classifier]
// (by default [errclass.Classify]): 429, 5xx and transport failures that are
// safe to repeat. Retry-After hints are honoured, bounded by
// [Policy.MaxRetryAfter] and the request's deadline; when waiting would run
// past either, the last response is returned at once instead of sleeping.
// A [Budget] shared by all requests through a Transport caps retries to a
// fraction of the traffic, so a failing server is not hit with several times
// its normal load.
//
// The first attempt is the caller's request, passed through untouched; later
// attempts are copies carrying a fresh body from Request.GetBody (requests
// whose body cannot be replayed are sent once, unless [Policy.BufferBody]
// lets small ones be read into memory first), and [Policy.PrepareRetry]
// may change each of them (a new signature, an attempt header). Requests
// from SDKs that retry by themselves can be left to them
// ([Policy.SDKRetries], [StainlessSDK]), so that retries do not stack.
// The response of a discarded
// attempt is drained (up to 64 KiB, of what arrives within 100ms, during the
// backoff wait) and closed so its connection is reused; a body that stalls or
// drips is closed instead, losing its connection but never hanging the call.
// When retries run out on an HTTP status, the caller gets the last response
// with its body unread, as with a plain http.Client; errors come back as
// [*Error], which records the number of attempts and unwraps to the cause.
//
// Deeper layers learn which attempt they are serving from
// [errclass.AttemptFromContext]; a layer above can follow the decisions
// (each retry and its wait, or why retries stopped) through an
// [errclass.Observer] put in the request's context, or given to
// [Policy.Observer] (observers compose).
// [Policy.Hedge] turns on hedging: a request that may be sent twice
// whose first attempt has no answer after a delay (fixed, or a latency
// quantile measured per route) gets another attempt, and the first answer
// that is not retryable wins; the others are canceled (see [HedgePolicy]).
//
// When retries stop early, errors.Is(err, [ErrGaveUp]) holds and
// [Error.Reason] says why. [WithMaxAttempts] overrides the attempt limit
// for one call.
package retry
