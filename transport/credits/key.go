package credits

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/resilient-http/resilient/transport/internal/origin"

	"github.com/resilient-http/resilient/transport/fleet"
)

// keys names the two latches a request can meet: its route's and its
// method and host's.
type keys struct {
	route string
	host  hostKey
}

// hostKey names a host latch. A struct rather than a string, so looking one
// up allocates nothing.
type hostKey struct {
	method, scheme, host string
}

func (k hostKey) String() string { return k.method + " " + k.scheme + "://" + k.host }

func (t *Transport) keys(req *http.Request) keys {
	scheme, host := origin.Of(req.URL)
	hk := hostKey{method: method(req), scheme: scheme, host: host}
	route := ""
	if t.s.p.Key != nil {
		route = t.s.p.Key(req)
	}
	if route == "" && t.s.p.Route != nil {
		if r := t.s.p.Route(req); r != "" {
			route = hk.String() + r
		}
	}
	if route == "" {
		route = hk.String() + cleanPath(req.URL)
	}
	return keys{route: route, host: hk}
}

// method returns req's method; net/http sends "" as GET.
func method(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return req.Method
}

// cleanPath returns u's escaped path (no query, no fragment) spelled one way:
//
//   - escapes of unreserved characters are decoded (%6A is j, %2E is .) and
//     other escapes are upper-cased (%2f is %2F), as RFC 3986 §6.2.2
//     normalises them; %2F stays an escape, so /a%2Fb and /a/b differ;
//   - then [path.Clean] removes dot segments, repeated slashes and any
//     trailing slash; an empty path is "/".
//
// So /v1//jobs/./x, /v1/jobs/x/ and /v1/%6Aobs/x are all /v1/jobs/x.
func cleanPath(u *url.URL) string {
	p := u.EscapedPath()
	if u.Opaque != "" {
		p = u.Opaque
	}
	if p == "" {
		return "/"
	}
	if strings.IndexByte(p, '%') >= 0 {
		p = normalizeEscapes(p)
	}
	return path.Clean(p)
}

func normalizeEscapes(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' || i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b.WriteByte(c)
			continue
		}
		d := unhex(p[i+1])<<4 | unhex(p[i+2])
		if unreserved(d) {
			b.WriteByte(d)
		} else {
			b.WriteByte('%')
			b.WriteByte(upper(p[i+1]))
			b.WriteByte(upper(p[i+2]))
		}
		i += 2
	}
	return b.String()
}

// unreserved reports whether c is an unreserved character of RFC 3986 §2.3,
// whose escape means the same as the character itself.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

// keyBufs holds the buffers fleetRefusal spells keys in.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// fleetRefusal returns the refusal of req by a latch another replica
// published to Policy.Fleet, or nil. It is the request path of every
// request while no latch is set here, so it costs one allocation: both keys
// are spelled in one pooled buffer ("host:", the host key, then the route)
// and made one string, which both keys slice. A [Policy.Key] or
// [Policy.Route] costs what it allocates; a path with escapes, one
// allocation more.
func (t *Transport) fleetRefusal(req *http.Request) *Error {
	f := t.s.p.Fleet
	bp := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(bp)
	scheme, host := origin.Of(req.URL)
	b := append((*bp)[:0], hostPrefix...)
	b = append(b, method(req)...)
	b = append(b, ' ')
	b = append(b, scheme...)
	b = append(b, "://"...)
	b = append(b, host...)
	hostEnd := len(b)
	route := ""
	if t.s.p.Key != nil {
		route = t.s.p.Key(req)
	}
	if route == "" {
		r := ""
		if t.s.p.Route != nil {
			r = t.s.p.Route(req)
		}
		if r == "" {
			r = cleanPath(req.URL)
		}
		b = append(b, r...)
	}
	*bp = b          // keep what the buffer grew to
	all := string(b) // a Store may keep the keys it is given
	if route == "" {
		route = all[len(hostPrefix):]
	}
	hk := all[:hostEnd]
	isHost := false
	until := f.Until(fleet.KindCredits, route)
	if hu := f.Until(fleet.KindCredits, hk); hu.After(until) {
		until, isHost = hu, true
	}
	if until.IsZero() { // Until reports only deadlines to come
		return nil
	}
	key := route
	if isHost {
		key = hk[len(hostPrefix):]
	}
	return &Error{Key: key, Host: isHost, Until: until, Fleet: true}
}
