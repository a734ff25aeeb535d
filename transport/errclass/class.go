package errclass

import (
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/resilient-http/resilient/transport/internal/header"
)

// Class is the verdict on one attempt: what a caller should do about it.
type Class uint8

const (
	// Success means the server answered with a status below 400. Redirects
	// count as success: following them is the http.Client's business.
	Success Class = iota
	// Retryable means the same request may succeed if sent again later: rate
	// limiting, server errors, and transport failures that are safe to repeat.
	Retryable
	// Permanent means sending the same request again would fail the same way
	// (400, 402, 404, 422, other 4xx, TLS and URL errors), or that repeating it
	// is unsafe (a non-idempotent request that may have been processed).
	Permanent
	// Canceled means the caller's context ended the attempt (cancellation or
	// the caller's own deadline). It is neither a success nor a failure of the
	// server and is never retried.
	Canceled
)

var classNames = [...]string{"success", "retryable", "permanent", "canceled"}

// String returns the class in lower case, as used in logs and telemetry.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Delivery tells whether the server may have processed a request. It decides
// whether a failed non-idempotent request is safe to send again.
type Delivery uint8

const (
	// Delivered means the server answered: it saw the request.
	Delivered Delivery = iota
	// NotSent means the request never reached the server (dial failure, DNS
	// failure, HTTP/2 REFUSED_STREAM): repeating it is safe for any method.
	NotSent
	// Ambiguous means the request may or may not have been processed (a
	// reset or EOF after it was written, an attempt that timed out).
	Ambiguous
)

var deliveryNames = [...]string{"delivered", "not_sent", "ambiguous"}

// String returns the delivery state in lower case.
func (d Delivery) String() string {
	if int(d) < len(deliveryNames) {
		return deliveryNames[d]
	}
	return "unknown"
}

// Outcome is the classification of one attempt. The zero Outcome is a
// delivered success.
type Outcome struct {
	// Class is what to do about the attempt.
	Class Class
	// Delivery tells whether the server may have processed the request.
	Delivery Delivery
	// StatusCode is the response's status code, or 0 when there was no
	// response.
	StatusCode int
	// Timeout reports that the attempt ended because a deadline passed that
	// was not the caller's (a per-attempt or dial timeout).
	Timeout bool
	// Refused reports that a layer below refused the request without sending
	// it (an open circuit breaker, a latch after 402): see [Refusal]. Such
	// outcomes are [Permanent] and [NotSent].
	Refused bool
	// ServerFault reports that the outcome tells of a server (or the path
	// to it) in trouble: a 5xx other than 501 and 505, a timeout, a reset,
	// a refused connection. Circuit breakers count these as failures, and
	// nothing else (a 429 only when asked to). Errors the classifier does
	// not recognise are not server faults: net/http, for one, reports a
	// keep-alive connection the server closed as it was reused through an
	// unexported error that says nothing certain about the server's health.
	// A custom classifier decides this field as it decides Class.
	ServerFault bool
	// Advised reports that the response is [Retryable] only because the
	// server said so (Stripe-Should-Retry or X-Should-Retry: true; see
	// [Classify]): its status alone would be [Permanent]. A retry layer
	// that retries 5xx only for idempotent requests treats such a response
	// as it treats a 5xx, since the server may have processed the request.
	Advised bool
	// RetryAfter is how long to wait before trying again: the server's
	// Retry-After or X-RateLimit-Reset hint for retryable responses, or
	// for a refusal the time until the refusing layer lets a request through.
	// It is set only when valid, positive and in the future; otherwise it is
	// zero and callers use their own backoff.
	RetryAfter time.Duration
}

// A Refusal is an error from a layer that refused to send a request at all,
// such as an open circuit breaker: nothing reached the server. RetryIn
// reports how long until the layer will let a request through, or 0 if it
// cannot tell. [Classify] recognises refusals anywhere in an error's chain.
type Refusal interface {
	error
	RetryIn() time.Duration
}

// RefusedHeader marks a synthetic response that stands for a refusal: a
// layer refused to send the request (an open circuit breaker, a 402
// latch, a throttle window), and the outermost layer of a stack that was
// asked to (transport.Policy.RefusalsAs503) answered the caller with a 503
// and Retry-After instead of an error, so that SDKs which retry errors
// with sleeps build their own "service unavailable" error and wait. Its
// value names the refusing layer ("breaker", "credits", "pacing", or
// "refused" for another [Refusal]).
//
// [Classify] gives a response marked with [MarkRefused] in this process
// the outcome of the refusal itself: [Permanent], [NotSent],
// [Outcome.Refused], never a server fault, whatever its status and
// should-retry headers say. So a second stack above the first neither
// retries it nor counts it against the server. The header alone proves
// nothing: a server (or a proxy relaying another process's refusal) that
// sends it gets its response classified as any other, so that a failing
// server cannot pass its 5xx off as our refusal and go uncounted.
const RefusedHeader = "Resilient-Refused"

// refusedToken proves that a response marked with [RefusedHeader] was made
// in this process: MarkRefused adds it as the header's second value, which
// no server can know.
var refusedToken = rand.Text()

// MarkRefused marks h as the header of a refusal made into a response by
// the refusing layer named layer (see [RefusedHeader]): h.Get(RefusedHeader)
// returns layer, and [Classify] reads the response as a refusal.
func MarkRefused(h http.Header, layer string) {
	h[RefusedHeader] = []string{layer, refusedToken}
}

// A Classifier labels the outcome of one attempt of req. resp and err are
// what the RoundTripper below returned; exactly one of them is normally
// non-nil. A Classifier must be safe for concurrent use, must not read or
// close resp.Body, and should not allocate on the success path.
//
// [Classify] is the default; wrap it to change a few rules and defer the rest:
//
//	func(req *http.Request, resp *http.Response, err error) errclass.Outcome {
//		if resp != nil && resp.StatusCode == http.StatusConflict {
//			return errclass.Outcome{Class: errclass.Retryable, StatusCode: resp.StatusCode}
//		}
//		return errclass.Classify(req, resp, err)
//	}
type Classifier func(req *http.Request, resp *http.Response, err error) Outcome

// ErrNilResponse is the error a layer returns, wrapped, in place of a
// RoundTripper's (nil, nil): that pair breaks the http.RoundTripper contract,
// and http.Client reports it as an error too. [Classify] gives it the
// outcome of the pair itself: [Permanent] and [Ambiguous].
var ErrNilResponse = errors.New("errclass: RoundTripper returned a nil *Response with a nil error")

// Classify is the default [Classifier]. For responses:
//
//   - below 400: [Success];
//   - 429, 425 (Too Early, RFC 8470) and 5xx except 501 and 505: [Retryable],
//     with the Retry-After hint;
//   - every other status, 400, 402, 404 and 422 among them: [Permanent].
//
// A response may say itself whether it is worth sending again, in the
// de-facto headers that Stripe (Stripe-Should-Retry) and OpenAI and other
// APIs whose SDKs are generated by Stainless (X-Should-Retry) send, and
// that their SDKs obey. Classify obeys them too, for statuses of 400 and
// above; the value is "true" or "false", in any case, and any other is
// ignored, as is a header on a success:
//
//   - "false" makes the response [Permanent], whatever its status: a 429
//     insufficient_quota that no wait will cure goes out once. A 5xx stays
//     a server fault ([Outcome.ServerFault]), so circuit breakers still see
//     a failing server.
//   - "true" makes a [Permanent] response [Retryable] (with its Retry-After
//     hint, and [Outcome.Advised] set), except 400, 402, 404 and 422, which
//     always go out once, and statuses outside 400–599.
//   - when both headers are present and disagree, "false" wins.
//
// What a caller sets still wins over the headers: statuses given to
// [Classifier.WithStatus] are classified before Classify sees the
// response, and a retry layer that retries only idempotent requests
// after a 5xx does the same for an advised retry. Refusals have no
// response, so the headers never concern them.
//
// A response marked by [MarkRefused] in this process is a refusal made
// into a response, not the server's answer: [Permanent], [NotSent] and
// [Outcome.Refused], with its Retry-After hint, and no server fault. A
// [RefusedHeader] that came from the network is ignored.
//
// For transport errors it first asks whether the caller's context is done
// ([Canceled]); whether a layer below refused the request ([Refusal]:
// [Permanent], so retries fail fast); whether it was never sent (dial
// failures, temporary DNS failures, HTTP/2 REFUSED_STREAM: [Retryable] for
// every method); whether it failed for good (TLS and certificate errors,
// unknown hosts, unrecognised errors: [Permanent]); and treats resets, EOFs,
// responses cut off mid-headers and attempt timeouts as [Ambiguous],
// [Retryable] only when [Idempotent] reports true for req.
//
// Classify never panics on the errors it is given: an error holding a nil
// pointer (a typed nil such as a nil *net.OpError), alone or anywhere in a
// chain, is never called, and a chain that has nothing else to tell counts
// as an unrecognised error.
func Classify(req *http.Request, resp *http.Response, err error) Outcome {
	if err != nil || resp == nil {
		return classifyError(req, err)
	}
	return classifyStatus(resp)
}

func classifyStatus(resp *http.Response) Outcome {
	code := resp.StatusCode
	out := Outcome{StatusCode: code}
	if code >= 100 && code < 400 {
		return out // Success; the hot path: no header lookups.
	}
	// Before the should-retry headers: a refusal is never the server's
	// answer, whatever headers it carries.
	if refusedResponse(resp) {
		out.Class, out.Delivery, out.Refused = Permanent, NotSent, true
		out.RetryAfter = hint(resp)
		return out
	}
	advice := shouldRetry(resp.Header)
	switch {
	case advice == adviceNo:
		out.Class = Permanent
		out.ServerFault = serverFault(code)
	case code == http.StatusTooManyRequests, code == http.StatusTooEarly:
		out.Class = Retryable
		out.RetryAfter = hint(resp)
	case serverFault(code):
		out.Class = Retryable
		out.ServerFault = true
		out.RetryAfter = hint(resp)
	case advice == adviceYes && code >= 400 && code < 600 && !alwaysOnce(code):
		out.Class = Retryable
		out.Advised = true
		out.RetryAfter = hint(resp)
	default:
		out.Class = Permanent
	}
	return out
}

// refusedResponse reports whether resp is a refusal made into a response
// in this process (see [MarkRefused]). The key is canonical: no
// allocation.
func refusedResponse(resp *http.Response) bool {
	v := resp.Header[RefusedHeader]
	return len(v) == 2 && v[1] == refusedToken
}

// alwaysOnce reports whether a response with status code goes out once
// whatever the server advises: the request itself is wrong (400, 422),
// missing (404), or not paid for (402).
func alwaysOnce(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusPaymentRequired, http.StatusNotFound, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// advice is what a response's should-retry headers say.
type advice uint8

const (
	adviceNone advice = iota
	adviceYes
	adviceNo
)

// shouldRetry reads the should-retry headers of h (Stripe-Should-Retry,
// X-Should-Retry): adviceNo when either says "false", else adviceYes when
// either says "true". The keys are canonical, looked up without
// allocating.
func shouldRetry(h http.Header) advice {
	a := adviceNone
	for _, key := range [...]string{"Stripe-Should-Retry", "X-Should-Retry"} {
		v := h[key]
		if len(v) == 0 {
			continue
		}
		switch s := strings.TrimSpace(v[0]); {
		case strings.EqualFold(s, "false"):
			return adviceNo
		case strings.EqualFold(s, "true"):
			a = adviceYes
		}
	}
	return a
}

// serverFault reports whether status tells of a server in trouble: any 5xx
// but 501 Not Implemented and 505 HTTP Version Not Supported, which answer
// the request rather than the server's health.
func serverFault(code int) bool {
	return code >= 500 && code < 600 && code != http.StatusNotImplemented && code != http.StatusHTTPVersionNotSupported
}

// hint returns the usable Retry-After hint of resp, or 0.
func hint(resp *http.Response) time.Duration {
	if d, ok := RetryAfter(resp, time.Now()); ok {
		return d
	}
	return 0
}

// WithStatus returns a Classifier that gives every response whose status is
// one of codes the class cls (with the Retry-After hint when cls is
// [Retryable]) and defers everything else to c. A nil c means [Classify].
// Such a response is a server fault (see [Outcome.ServerFault]) when its
// status is one that [Classify] counts as such, unless cls is [Success]:
// a 503 declared a success trips no breaker. A response marked by
// [MarkRefused] is not the server's status: it goes to c whatever its
// status.
func (c Classifier) WithStatus(cls Class, codes ...int) Classifier {
	if c == nil {
		c = Classify
	}
	set := make(map[int]struct{}, len(codes))
	for _, code := range codes {
		set[code] = struct{}{}
	}
	return func(req *http.Request, resp *http.Response, err error) Outcome {
		if err == nil && resp != nil && !refusedResponse(resp) {
			if _, ok := set[resp.StatusCode]; ok {
				out := Outcome{Class: cls, StatusCode: resp.StatusCode}
				out.ServerFault = cls != Success && serverFault(resp.StatusCode)
				if cls == Retryable {
					out.RetryAfter = hint(resp)
				}
				return out
			}
		}
		return c(req, resp, err)
	}
}

// Idempotent reports whether sending req twice has the same effect as
// sending it once: its method is GET, HEAD, OPTIONS, TRACE, PUT or DELETE,
// or it carries an Idempotency-Key (or X-Idempotency-Key) header. This is the
// rule net/http itself uses before replaying a request on a new connection.
// A nil req is not idempotent.
func Idempotent(req *http.Request) bool {
	if req == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return HasIdempotencyKey(req)
}

// HasIdempotencyKey reports whether req carries an Idempotency-Key or
// X-Idempotency-Key header: one with a value, which net/http sends (a
// name with no values is not written), under its name in any case.
func HasIdempotencyKey(req *http.Request) bool {
	if req == nil {
		return false
	}
	// Header names are case-insensitive, and a map set directly may hold
	// one in another case: net/http sends it as it is.
	_, ok := header.Lookup(req.Header, "Idempotency-Key", "X-Idempotency-Key")
	return ok
}
