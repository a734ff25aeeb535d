// Package transport composes resilient http.RoundTripper layers and wraps
// existing http.Clients with them.
//
// The layers live in subpackages (errclass, retry, and the ones built on
// them); each is usable alone and exports a function of the [Middleware]
// type's underlying type, so it plugs into [Chain] and [Wrap] without
// importing this package.
package transport
