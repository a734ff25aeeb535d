package tracing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/resilient-http/resilient/transport/apierror"
	"github.com/resilient-http/resilient/transport/errclass"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// redacted replaces secrets in url.full, as the HTTP conventions ask.
const redacted = "REDACTED"

// redactURL renders u for url.full as the HTTP conventions ask: credentials
// and every query value replaced (query strings carry API keys and
// signatures too often for any to be trusted into a trace), and no fragment
// (it never goes on the wire, and OAuth's implicit flow puts access tokens
// there).
func redactURL(u *url.URL) string {
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" && u.RawFragment == "" {
		return u.String()
	}
	c := *u
	if c.User != nil {
		c.User = url.UserPassword(redacted, redacted)
	}
	c.RawQuery = redactQuery(c.RawQuery)
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// redactQuery keeps the keys of a raw query, in order and as sent, and
// replaces every value. A parameter without "=" (?SECRET) is a bare token
// rather than a key: it is replaced whole. A query whose keys cannot be read
// for sure, with an invalid escape or a ";" that some servers split on, is
// replaced whole.
func redactQuery(q string) string {
	if q == "" {
		return ""
	}
	if strings.Contains(q, ";") {
		return redacted
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	for rest, more := q, true; more; {
		var param string
		param, rest, more = strings.Cut(rest, "&")
		if param == "" {
			continue // "a=1&&b=2": an empty parameter says nothing
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		key, value, valued := strings.Cut(param, "=")
		if !valued || strings.Trim(value, "=") == "" {
			// A bare token, or one whose padding or trailing "=" reads as
			// an empty value ("?c2VjcmV0==", "?sk_live_x="): the name itself
			// may be the secret.
			b.WriteString(redacted)
			continue
		}
		if _, err := url.QueryUnescape(key); err != nil {
			return redacted
		}
		b.WriteString(key)
		b.WriteString("=" + redacted)
	}
	return b.String()
}

// errorText is err's message. An error holding a nil pointer (a typed nil
// from a RoundTripper below) may panic in its Error method: fmt recovers
// that and writes "<nil>".
func errorText(err error) string { return fmt.Sprint(err) }

// knownMethods are the methods the HTTP conventions name; others are
// reported as _OTHER with the original alongside.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodTrace: true, http.MethodConnect: true, "QUERY": true,
}

// spanNames are the span names of one route, by method (see methodIndex):
// a Tracer serving one endpoint sees one route, so its names are built once
// rather than concatenated per request.
type spanNames struct {
	route string
	names [10]string
}

func methodIndex(method string) int {
	switch method {
	case "", http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodTrace:
		return 7
	case http.MethodConnect:
		return 8
	case "QUERY":
		return 9
	}
	return -1
}

// spanName is spanName(req, route), cached for the route seen last.
func (t *Tracer) spanName(req *http.Request, route string) string {
	i := methodIndex(req.Method)
	if route == "" || i < 0 {
		return spanName(req, route)
	}
	c := t.names.Load()
	if c == nil || c.route != route {
		c = &spanNames{route: route}
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
			http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect, "QUERY"} {
			c.names[methodIndex(m)] = m + " " + route
		}
		t.names.Store(c)
	}
	return c.names[i]
}

// maxRequestAttrs is the most attributes appendRequestAttrs appends.
const maxRequestAttrs = 6

// requestAttrs returns the conventions' attributes of req.
func requestAttrs(req *http.Request, route string) []attribute.KeyValue {
	return appendRequestAttrs(make([]attribute.KeyValue, 0, maxRequestAttrs), req, route)
}

// appendRequestAttrs appends the conventions' attributes of req to attrs:
// at most maxRequestAttrs of them, url.template (when route is a path
// template) last. A route that is not a path, an operation's name, names
// the span but is no url.template.
func appendRequestAttrs(attrs []attribute.KeyValue, req *http.Request, route string) []attribute.KeyValue {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if knownMethods[method] {
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method))
	} else {
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String("_OTHER"), semconv.HTTPRequestMethodOriginal(method))
	}
	if req.URL != nil {
		attrs = append(attrs, semconv.URLFull(redactURL(req.URL)))
		host := req.URL.Hostname()
		if host == "" {
			host = req.Host
		}
		attrs = append(attrs, semconv.ServerAddress(host))
		if port := serverPort(req.URL); port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if route != "" && route[0] == '/' {
		attrs = append(attrs, semconv.URLTemplate(route))
	}
	return attrs
}

func serverPort(u *url.URL) int {
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0
		}
		return n
	}
	switch u.Scheme {
	case "http":
		return 80
	case "https":
		return 443
	}
	return 0
}

// spanName is "{method} {route}", or "{method}" without a route.
func spanName(req *http.Request, route string) string {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !knownMethods[method] {
		method = "HTTP"
	}
	if route == "" {
		return method
	}
	return method + " " + route
}

// errorType is a low-cardinality name for a failed outcome: the status code
// for HTTP errors, "timeout", or the Go type of the error (for a refusal,
// the refusing layer's error type, e.g. *breaker.OpenError).
func errorType(out errclass.Outcome, err error) string {
	switch {
	case err == nil:
		return strconv.Itoa(out.StatusCode)
	case out.Refused:
		var r errclass.Refusal
		if errors.As(err, &r) {
			return fmt.Sprintf("%T", r)
		}
	case out.Timeout:
		return "timeout"
	case out.Class == errclass.Canceled:
		return "canceled"
	}
	return fmt.Sprintf("%T", err)
}

// detailOf decodes the detail of an error body's captured prefix.
func detailOf(status int, header http.Header, captured []byte) string {
	if len(captured) == 0 {
		return ""
	}
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(captured))}
	var apiErr *apierror.Error
	if !errors.As(apierror.Decode(resp), &apiErr) {
		return ""
	}
	d := apiErr.Detail
	if d == "" {
		d = strings.ToValidUTF8(string(apiErr.Body), "\uFFFD")
	}
	return truncate(d, maxDetail)
}

// maxDetail bounds the resilient.error.detail attribute.
const maxDetail = 256

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a character boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
