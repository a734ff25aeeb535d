// Package tracing reports every request and every attempt to OpenTelemetry:
// a span for the logical request, a child client span per attempt, W3C trace
// context injected into each attempt, and metrics for attempts, retries,
// waits, fast fails and circuit breakers.
//
// Tracing is the one layer with two depths, and its shape says so: where
// every other layer package offers New(next, policy) and Middleware(policy),
// tracing offers one [Tracer] that makes two layers, [Tracer.Request] for
// the logical request (outside the retry layer) and [Tracer.Attempt] for
// each attempt (inside it), sharing one configuration, one set of
// instruments and, per request, the request span's name and attributes.
// A single Middleware could only stand at one depth: the request span would
// then see one attempt, or the attempt spans would have no request to
// belong to. [Tracer.Around] puts both layers at their depths in one call:
//
//	tr := tracing.New(tracing.Config{})
//	rt := transport.Chain(base, tr.Around(retry.Middleware(rp)), breaker.Middleware(bp))
//
// Circuit breaker state changes reach the metrics typed, as a
// [BreakerState], through [Tracer.BreakerStateChanged].
//
// Attempt spans follow the OpenTelemetry HTTP client conventions
// (http.request.method, url.full with credentials, query values and bare
// query tokens redacted and no fragment, server.address, server.port,
// url.template, http.response.status_code, error.type,
// http.request.resend_count), the request span those that describe the
// whole call, and both add their own resilient.*
// attributes and events where the conventions stop: the errclass class of
// each attempt, each retry's wait and whether Retry-After set it, why retries
// stopped (an [errclass.StopReason]: budget_exhausted, max_elapsed...),
// refusals by an open breaker, a 402 latch, a throttle window or a
// concurrency limit, waits for a throttle window (pacing.wait) or a limit's
// slot (limit.wait), the Idempotency-Key (or X-Idempotency-Key) an attempt carried
// (resilient.idempotency_key), hedges (a hedge event on a hedge's attempt
// span; the counter resilient.client.hedges by resilient.hedge.won), and the
// error body's detail (bounded). The request and attempt spans end when their response body is
// read to the end or closed, as with otelhttp.
//
// The request span starts with the attributes samplers are given
// (http.request.method and url.full) and its name carries the route; it is
// the span a sampler decides on, and its attempts follow it with the
// default, parent-based, sampler. Its other attributes (url.template, the
// outcome's) are set when the response arrives; server.address and
// server.port are on the attempts' client spans, where the conventions ask
// for them. An attempt span gets all its attributes in one call when it
// ends: the SDK then keeps them in one slice of the right size, where
// attributes given at the start cost a copy in the start options and a
// second, larger slice once the response's attributes arrive.
//
// The request layer hears the retry layer's decisions through an
// [errclass.Observer] that it adds to the request's context: an observer the
// caller put there keeps hearing them too, before the request layer does.
//
// Both layers keep the RoundTripper contract for the layers around them: a
// (nil, nil) from below becomes an error wrapping [errclass.ErrNilResponse],
// a response returned with an error is closed and the error alone handed
// up, and CloseIdleConnections is forwarded to the RoundTripper below, so that
// http.Client.CloseIdleConnections reaches the base transport.
//
// Tracing never changes behaviour. With no-op providers (the OpenTelemetry
// globals before an SDK is installed, or the noop package) it starts no span
// and allocates nothing.
package tracing
