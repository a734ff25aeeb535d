package tracing

import (
	"bytes"
	"encoding/json"
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

// request is what the spans of one request say of it, worked out once: the
// request layer keeps it for its attempts, which share the URL. Its
// attributes are built from it where a span takes them, in a slice of the
// size needed: the SDK copies them, and one too many (over 8 per span) costs
// it a larger map when the span ends.
type request struct {
	method   string // http.request.method: "_OTHER" when not one the conventions name
	original string // http.request.method_original, when method is "_OTHER"
	full     string // url.full, redacted
	host     string // server.address
	port     int    // server.port; 0 when unknown
	template string // url.template; "" unless the route is a path template
}

// describeRequest returns req's description. A route that is not a path,
// an operation's name, names the span but is no url.template.
func describeRequest(req *http.Request, route string) request {
	d := request{method: req.Method}
	if d.method == "" {
		d.method = http.MethodGet
	}
	if !knownMethods[d.method] {
		d.method, d.original = "_OTHER", d.method
	}
	if req.URL != nil {
		d.full = redactURL(req.URL)
		d.host = req.URL.Hostname()
		if d.host == "" {
			d.host = req.Host
		}
		d.port = serverPort(req.URL)
	}
	if route != "" && route[0] == '/' {
		d.template = route
	}
	return d
}

// appendSampling appends the attributes a request span starts with, for
// samplers: the method and url.full (host and port are in url.full). At
// most 3.
func (d *request) appendSampling(kv []attribute.KeyValue) []attribute.KeyValue {
	kv = append(kv, semconv.HTTPRequestMethodKey.String(d.method))
	if d.original != "" {
		kv = append(kv, semconv.HTTPRequestMethodOriginal(d.original))
	}
	return append(kv, semconv.URLFull(d.full))
}

// attrs is how many attributes appendTo appends.
func (d *request) attrs() int {
	return 3 + b2i(d.original != "") + b2i(d.port > 0) + b2i(d.template != "")
}

// appendTo appends the HTTP client conventions' attributes of the request
// (an attempt's span has them all).
func (d *request) appendTo(kv []attribute.KeyValue) []attribute.KeyValue {
	kv = append(kv, semconv.HTTPRequestMethodKey.String(d.method))
	if d.original != "" {
		kv = append(kv, semconv.HTTPRequestMethodOriginal(d.original))
	}
	kv = append(kv, semconv.URLFull(d.full), semconv.ServerAddress(d.host))
	if d.port > 0 {
		kv = append(kv, semconv.ServerPort(d.port))
	}
	if d.template != "" {
		kv = append(kv, semconv.URLTemplate(d.template))
	}
	return kv
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
		d = cutDetail(apiErr.Body)
	}
	if d == "" {
		d = strings.ToValidUTF8(string(apiErr.Body), "\uFFFD")
	}
	return truncate(d, maxDetail)
}

// cutDetail returns the "detail" string of the JSON object that body
// starts with, where body is cut short (the body was longer than what is
// kept, or the caller stopped reading) and so does not parse whole: as
// much of the string as body holds, marked as cut if it is. "" when body
// does not start with such an object or its detail is not a string.
func cutDetail(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return ""
		}
		if key == "detail" {
			break
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")
	rest = bytes.TrimLeft(bytes.TrimPrefix(rest, []byte(":")), " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	var d string
	if json.NewDecoder(bytes.NewReader(rest)).Decode(&d) == nil {
		return d
	}
	// Cut inside the string: close it, dropping up to an escape's length
	// ("\uXXXX") in case one was cut.
	for drop := 0; drop <= 6 && drop < len(rest); drop++ {
		closed := append(rest[:len(rest)-drop:len(rest)-drop], '"')
		if json.Unmarshal(closed, &d) == nil {
			return d + "…"
		}
	}
	return ""
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
