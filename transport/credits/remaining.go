package credits

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/resilient-http/resilient/transport/internal/bodywatch"
)

// MaxPrefix is how much of a response body [Policy.RemainingField] looks
// at: a value that starts or ends past the first MaxPrefix bytes is
// ignored.
const MaxPrefix = 4 << 10

// header reads the remaining-credits header of resp, if the policy names
// one and resp carries it as an integer.
func (s *latches) header(resp *http.Response) (int64, bool) {
	if s.hdr == "" {
		return 0, false
	}
	vs := resp.Header[s.hdr]
	if len(vs) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
	return n, err == nil
}

// watch wraps resp's body, when the policy names a remaining-credits field
// and resp is a successful JSON response with a body, so that what the
// caller reads of the body is looked at.
func (t *Transport) watch(req *http.Request, resp *http.Response) {
	if t.s.path == nil || resp.StatusCode < 200 || resp.StatusCode > 299 ||
		resp.Body == nil || resp.Body == http.NoBody || resp.ContentLength == 0 ||
		!isJSON(resp.Header.Get("Content-Type")) {
		return
	}
	b := &watchedBody{t: t, req: req, gzip: gzipped(resp)}
	b.Watch(resp.Body, b, false)
	resp.Body = bodywatch.Writable(b, resp.Body)
}

// isJSON reports whether the media type of a Content-Type value is
// application/json or ends in +json (RFC 6839), parameters aside.
func isJSON(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	return strings.EqualFold(ct, "application/json") ||
		len(ct) > 5 && strings.EqualFold(ct[len(ct)-5:], "+json")
}

// gzipped reports whether resp's body is still gzip-encoded: the caller
// asked for compression itself, so the transport left it compressed.
func gzipped(resp *http.Response) bool {
	return !resp.Uncompressed && strings.EqualFold(strings.TrimSpace(resp.Header.Get("Content-Encoding")), "gzip")
}

var prefixPool = sync.Pool{New: func() any { b := make([]byte, 0, MaxPrefix); return &b }}

// watchedBody keeps a copy of the first MaxPrefix bytes the caller reads
// and, when the body ends (read to its end, failed or closed), looks for
// the remaining-credits field in them. It never reads on its own.
type watchedBody struct {
	bodywatch.Body
	t   *Transport
	req *http.Request

	// Written by AfterRead under Body's lock, read by End after it.
	prefix *[]byte // from prefixPool, nil until the first byte
	over   bool    // the caller read past MaxPrefix

	gzip bool // the body is gzip-encoded: the prefix is decompressed at the end
}

// BeforeRead does nothing: the field is looked for at the end.
func (b *watchedBody) BeforeRead() {}

// AfterRead keeps what fits of p in the prefix.
func (b *watchedBody) AfterRead(p []byte, err error, _ bodywatch.End) error {
	if len(p) > 0 && !b.over {
		if b.prefix == nil {
			b.prefix = prefixPool.Get().(*[]byte)
		}
		*b.prefix, b.over = bodywatch.Keep(*b.prefix, p, MaxPrefix)
	}
	return err
}

// End looks for the field in the prefix. A number at the end of the prefix
// is taken only if the caller read the whole body and it fit.
func (b *watchedBody) End(how bodywatch.End, _ error) {
	prefix := b.prefix
	if prefix == nil {
		return
	}
	b.prefix = nil
	data, complete := *prefix, how == bodywatch.EOF && !b.over
	if b.gzip {
		plain := prefixPool.Get().(*[]byte)
		defer func() { *plain = (*plain)[:0]; prefixPool.Put(plain) }()
		data, complete = gunzipPrefix((*plain)[:0], data, complete)
	}
	n, ok := findInt(data, b.t.s.path, complete)
	*prefix = (*prefix)[:0]
	prefixPool.Put(prefix)
	if !ok {
		return
	}
	k := b.t.keys(b.req)
	b.t.s.record(k, n)
	if n <= 0 {
		b.t.s.settle(k, probes{}, exhausted, b.t.now())
	}
}

var gzipPool sync.Pool // of *gzip.Reader

// gunzipPrefix decompresses into dst (capacity MaxPrefix) what fits of the
// gzip stream that src begins. It reports whether the result is the whole
// text: src must be complete, and the stream end within MaxPrefix bytes.
// What a cut or corrupt stream gave before it failed is kept, as not
// complete.
func gunzipPrefix(dst, src []byte, complete bool) ([]byte, bool) {
	br := bytes.NewReader(src)
	zr, _ := gzipPool.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if zr == nil {
		return dst, false
	}
	defer gzipPool.Put(zr)
	if err != nil {
		return dst, false
	}
	buf := dst[:MaxPrefix]
	n := 0
	for n < len(buf) && err == nil {
		var m int
		m, err = zr.Read(buf[n:])
		n += m
	}
	if err == nil { // full: the text may go on
		var one [1]byte
		var m int
		m, err = zr.Read(one[:])
		if m > 0 {
			err = nil
		}
	}
	return buf[:n], complete && err == io.EOF
}

// findInt returns the integer at path (member names, outermost first) in
// the JSON text data; the first member of a name counts. complete reports
// that data is the whole text: if it is not, a number that reaches the end
// of data may be cut short, and is not taken. It is a scanner of its own
// rather than encoding/json's Decoder, which costs some 70 allocations on
// a small body; it allocates nothing, and stops at the value.
func findInt(data []byte, path []string, complete bool) (int64, bool) {
	s := scanner{data: data}
	for _, name := range path {
		s.space()
		if !s.eat('{') {
			return 0, false
		}
		for {
			s.space()
			key, ok := s.str()
			if !ok {
				return 0, false // '}' (absent) or malformed
			}
			s.space()
			if !s.eat(':') {
				return 0, false
			}
			if keyIs(key, name) {
				break
			}
			if !s.skip(0) {
				return 0, false
			}
			s.space()
			if !s.eat(',') {
				return 0, false
			}
		}
	}
	s.space()
	return s.integer(complete)
}

// keyIs reports whether the raw (still escaped) member name key is name.
func keyIs(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key) == name
	}
	var k string
	q := make([]byte, 0, len(key)+2)
	q = append(append(append(q, '"'), key...), '"')
	return json.Unmarshal(q, &k) == nil && k == name
}

// maxDepth bounds the nesting skip follows.
const maxDepth = 1000

// scanner reads JSON text just enough to find one member: it checks the
// grammar of what it passes, not every escape or literal's spelling.
type scanner struct {
	data []byte
	i    int
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string, returning what lies between its quotes.
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.data) {
		switch c := s.data[s.i]; {
		case c == '"':
			s.i++
			return s.data[start : s.i-1], true
		case c == '\\':
			s.i += 2
		case c < 0x20:
			return nil, false
		default:
			s.i++
		}
	}
	return nil, false
}

// skip reads past one value of any kind, depth levels deep already.
func (s *scanner) skip(depth int) bool {
	if depth > maxDepth || s.i >= len(s.data) {
		return false
	}
	switch c := s.data[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{', c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		s.i++
		s.space()
		if s.eat(end) {
			return true
		}
		for {
			s.space()
			if c == '{' {
				if _, ok := s.str(); !ok {
					return false
				}
				s.space()
				if !s.eat(':') {
					return false
				}
				s.space()
			}
			if !s.skip(depth + 1) {
				return false
			}
			s.space()
			if s.eat(end) {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == '-' || '0' <= c && c <= '9':
		s.i++
		for s.i < len(s.data) && strings.IndexByte("0123456789.eE+-", s.data[s.i]) >= 0 {
			s.i++
		}
		return true
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(s.data[s.i:], []byte(lit)) {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// integer reads a JSON number that is an integer fitting in an int64. A
// number that reaches the end of the data is taken only if complete.
func (s *scanner) integer(complete bool) (int64, bool) {
	neg := s.eat('-')
	start := s.i
	limit := uint64(1<<63 - 1)
	if neg {
		limit++ // -1<<63
	}
	var n uint64
	for s.i < len(s.data) && '0' <= s.data[s.i] && s.data[s.i] <= '9' {
		d := uint64(s.data[s.i] - '0')
		if n > (limit-d)/10 {
			return 0, false // past an int64
		}
		n = n*10 + d
		s.i++
	}
	switch {
	case s.i == start, s.i-start > 1 && s.data[start] == '0': // no digits; a leading zero
		return 0, false
	case s.i == len(s.data):
		if !complete {
			return 0, false
		}
	case strings.IndexByte(" \t\r\n,}]", s.data[s.i]) < 0:
		// Only whitespace or the end of the value may follow a number:
		// "1.5", "1e3" are not integers, "0x10", "0abc", `0"` not JSON.
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
