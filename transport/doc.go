// Package transport composes resilient http.RoundTripper layers and wraps
// existing http.Clients with them.
//
// Most callers want the whole recommended stack in one call:
//
//	client, err := transport.NewClient(existing, transport.Config{})
//
// which keeps existing's settings and sends every request through, in order,
// a tracing span for the request, retry with backoff, a tracing span per
// attempt, a circuit breaker per host, and a per-attempt timeout, over
// existing's own transport. A [Config] tunes this per endpoint: a default
// [Policy] and one per net/http.ServeMux pattern ("POST /v1/enhancements"),
// matched by the standard library's own router; [LoadConfig] reads the same
// from a JSON policy file.
//
// The layers live in subpackages (errclass, retry, breaker, tracing) and are
// usable alone. Each exports a function of the [Middleware] type's
// underlying type, so it plugs into [Chain] and [Wrap] without importing
// this package.
package transport
