package pacing

import (
	"net/http"
	"path"

	"github.com/resilient-http/resilient/transport/internal/origin"
)

// key returns the key req belongs to: [Policy.Key]'s result, or by default
// the scheme and host, lower-cased and without the scheme's default port
// ("https://api.example.com"); with [ScopeRoute], followed by
// [Policy.Route]'s result or the cleaned path ("https://api.example.com/v1/jobs").
// The method is never part of a default key: servers count every method
// against one limit.
func (s *store) key(req *http.Request) string {
	if s.p.Key != nil {
		if k := s.p.Key(req); k != "" {
			return k
		}
	}
	scheme, host := origin.Of(req.URL)
	server := scheme + "://" + host
	if s.p.Scope != ScopeRoute {
		return server
	}
	if s.p.Route != nil {
		if r := s.p.Route(req); r != "" {
			return server + r
		}
	}
	return server + cleanPath(req)
}

// cleanPath returns req's escaped path without query, with dot segments,
// repeated slashes and a trailing slash removed ([path.Clean]); an empty
// path is "/".
func cleanPath(req *http.Request) string {
	p := req.URL.EscapedPath()
	if p == "" {
		return "/"
	}
	return path.Clean(p)
}
