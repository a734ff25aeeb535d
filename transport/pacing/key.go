package pacing

import (
	"net/http"
	"path"
	"strings"
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
	u := req.URL
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch scheme {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	}
	origin := scheme + "://" + host
	if s.p.Scope != ScopeRoute {
		return origin
	}
	if s.p.Route != nil {
		if r := s.p.Route(req); r != "" {
			return origin + r
		}
	}
	return origin + cleanPath(req)
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
