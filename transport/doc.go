// Package transport composes resilient http.RoundTripper layers and wraps
// existing http.Clients with them.
//
// Most callers want the whole recommended stack in one call:
//
//	client, err := transport.NewClient(existing, transport.Config{})
//
// which keeps existing's settings and sends every request through, in order,
// a tracing span for the request, a total timeout (30s until the final
// headers), retry with backoff, a tracing span per attempt, the 402 latch
// where a policy turns it on, a circuit breaker per host, and a per-attempt
// timeout (10s until headers) with a body idle timeout (1 min without a
// byte), over existing's own transport. [NoTimeout] turns a timeout off.
// A [Config] tunes this per endpoint: a default [Policy] and one per
// net/http.ServeMux pattern ("POST /v1/enhancements"), matched by the
// standard library's own router; [LoadConfig] reads the same from a JSON
// policy file.
//
// The layers live in subpackages (errclass, retry, breaker, credits,
// tracing) and are usable alone. Each exports a function of the [Middleware] type's
// underlying type, so it plugs into [Chain] and [Wrap] without importing
// this package.
package transport
