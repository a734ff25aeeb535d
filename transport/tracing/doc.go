// Package tracing reports every request and every attempt to OpenTelemetry:
// a span for the logical request, a child client span per attempt, W3C trace
// context injected into each attempt, and metrics for attempts, retries,
// waits, fast fails and circuit breakers.
//
// The two spans live at two depths of the stack: the request span outside
// the retry layer, the attempt spans inside it. [Tracer.Around] puts them
// there in one call:
//
//	tr := tracing.New(tracing.Config{})
//	rt := transport.Chain(base, tr.Around(retry.Middleware(rp)), breaker.Middleware(bp))
//
// Spans follow the OpenTelemetry HTTP client conventions (http.request.method,
// url.full with credentials, query values and bare query tokens redacted and
// no fragment, server.address, server.port, http.response.status_code,
// error.type, http.request.resend_count) and add their own resilient.*
// attributes and events where the conventions stop: the errclass class of
// each attempt, each retry's wait and whether Retry-After set it, why retries
// stopped (an [errclass.StopReason]: budget_exhausted, max_elapsed...),
// refusals by an open breaker or a 402 latch, and the error body's detail
// (bounded). The request and attempt spans end when their response body is
// read to the end or closed, as with otelhttp.
//
// The request layer hears the retry layer's decisions through an
// [errclass.Observer] that it adds to the request's context: an observer the
// caller put there keeps hearing them too, before the request layer does.
//
// Both layers keep the RoundTripper contract for the layers around them: a
// (nil, nil) from below becomes an error wrapping [errclass.ErrNilResponse],
// and CloseIdleConnections is forwarded to the RoundTripper below, so that
// http.Client.CloseIdleConnections reaches the base transport.
//
// Tracing never changes behaviour. With no-op providers (the OpenTelemetry
// globals before an SDK is installed, or the noop package) it starts no span
// and allocates nothing.
package tracing
