package transport

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/resilient-http/resilient/transport/retry"
)

// origins names, for each time bound resolve orders, the policy whose
// value a Policy holds: its own path, or "default" for a value an endpoint
// of a policy file inherited.
type origins struct {
	maxRetryAfter, maxElapsed, timeout string
}

// resolve returns p with its timeouts and retry time bounds explicit,
// named in errors as the policy at field ("default",
// `endpoints["POST /v1/enhancements"]`). See [Policy.resolveFrom].
func (p Policy) resolve(field string) (Policy, error) {
	return p.resolveFrom(origins{field, field, field}, field)
}

// resolveFrom returns p with its timeouts and retry time bounds explicit:
// never zero, a negative timeout as [NoTimeout].
//
// The bounds form a consistent set: Retry.MaxRetryAfter ≤ Retry.MaxElapsed
// ≤ Timeout (unbounded when NoTimeout). A longer Retry-After cap would
// make a server's hint end the request at once instead of being waited
// out, and retries that outlast the total timeout would be cut by it.
//
// Two bounds set (non-zero) out of order are a *ConfigError naming both.
// from says which policy set each: own (p's path) or the default it
// inherited from; when one is own and the other inherited, the error's
// Field is the own one. A bound left at zero takes its default moved
// within the set ones: MaxRetryAfter alone at 60s raises MaxElapsed and
// Timeout to 60s; Timeout alone at 10s lowers the other two to 10s.
//
// Resolving is idempotent: a resolved policy resolves to itself.
func (p Policy) resolveFrom(from origins, own string) (Policy, error) {
	p.AttemptTimeout = timeoutOr(p.AttemptTimeout, DefaultAttemptTimeout)
	p.BodyIdleTimeout = timeoutOr(p.BodyIdleTimeout, DefaultBodyIdleTimeout)
	p.Timeout = timeoutOr(p.Timeout, 0)
	// retry reads a negative bound as its default, as zero.
	r, e := &p.Retry.MaxRetryAfter, &p.Retry.MaxElapsed
	*r, *e = max(*r, 0), max(*e, 0)

	type bound struct {
		origin, name string
		v            time.Duration // zero when not set; never NoTimeout here
		what         string
	}
	retryAfter := bound{from.maxRetryAfter, ".retry.max_retry_after", *r, "the longest Retry-After honoured"}
	elapsed := bound{from.maxElapsed, ".retry.max_elapsed", *e, "the time retries may take"}
	total := bound{from.timeout, ".timeout", max(p.Timeout, 0), "the total timeout"}
	for _, pair := range [...][2]bound{{retryAfter, elapsed}, {elapsed, total}, {retryAfter, total}} {
		lo, hi := pair[0], pair[1]
		if lo.v == 0 || hi.v == 0 || lo.v <= hi.v {
			continue
		}
		why := lo.what + " must fit in " + hi.what
		if hi.origin == own && lo.origin != own {
			return p, &ConfigError{Field: hi.origin + hi.name, Err: fmt.Errorf("%v is shorter than %s (%v): %s", hi.v, lo.origin+lo.name, lo.v, why)}
		}
		return p, &ConfigError{Field: lo.origin + lo.name, Err: fmt.Errorf("%v exceeds %s (%v): %s", lo.v, hi.origin+hi.name, hi.v, why)}
	}

	// MaxElapsed first: between the set MaxRetryAfter and Timeout (in
	// order, as checked), then the others around it.
	if *e == 0 {
		*e = retry.DefaultMaxElapsed
		if *r > 0 {
			*e = max(*e, *r)
		}
		if p.Timeout > 0 {
			*e = min(*e, p.Timeout)
		}
	}
	if *r == 0 {
		*r = min(retry.DefaultMaxRetryAfter, *e)
	}
	if p.Timeout == 0 {
		p.Timeout = max(DefaultTimeout, *e)
	}
	return p, nil
}

// timeoutOr returns d as a timeout of a Policy: def for zero, [NoTimeout]
// for any negative value.
func timeoutOr(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return NoTimeout
	}
	return d
}

// matched is the handler a Stack registers for every pattern, a comparable
// value: ServeMux answers some requests with a pattern and a handler of
// its own, a redirect, and match must tell those from a match.
var matched http.Handler = matchedHandler{}

type matchedHandler struct{}

func (matchedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }

// cleanPath returns the escaped path p as ServeMux routes it: rooted, with
// no empty, "." or ".." segments, and its trailing slash kept.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// withCleanPath returns a shallow copy of r whose URL has the path
// ServeMux would redirect r to (see [cleanPath]), or nil if r's path is
// clean already.
func withCleanPath(r *http.Request) *http.Request {
	escaped := r.URL.EscapedPath()
	clean := cleanPath(escaped)
	unescaped, err := url.PathUnescape(clean)
	if clean == escaped || err != nil {
		return nil
	}
	u := *r.URL
	u.Path, u.RawPath = unescaped, clean
	shim := *r
	shim.URL = &u
	return &shim
}
