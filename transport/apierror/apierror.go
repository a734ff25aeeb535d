package apierror

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBodyBytes bounds how much of an error body [Decode] reads.
const MaxBodyBytes = 1 << 20

// snippetBytes bounds the raw body quoted in an error message.
const snippetBytes = 256

// Error is a non-2xx response turned into a Go error by [Decode].
//
// It understands the shapes the partner API and its peers send:
// {"detail": "text"}, FastAPI's validation list {"detail": [{"type", "loc",
// "msg", "input"}, ...]} (Pydantic 1 and 2), and RFC 9457 problem documents
// ({"type", "title", "status", "detail", "instance"}). Bodies in any other
// shape, or not JSON at all, still give an Error carrying the status and
// the raw bytes.
//
// Use [errors.Is] with the package's sentinels ([ErrRateLimited],
// [ErrValidation], ...) to branch on the kind of failure.
type Error struct {
	// StatusCode is the response's HTTP status code.
	StatusCode int
	// Detail is the server's explanation: the "detail" string, a summary of
	// the field errors for a validation list, or an RFC 9457 title when the
	// problem document has no detail. Empty when the body has none. It
	// holds the server's text as sent; [Error.Error] escapes it.
	Detail string
	// Violations holds the field errors of a validation response (422), in
	// the server's order.
	Violations []Violation
	// Type, Title and Instance are the RFC 9457 members of a problem
	// document, when present.
	Type, Title, Instance string
	// Body holds the bytes of the body that were read (at most
	// MaxBodyBytes, decompressed if the body was gzip-encoded).
	Body []byte
	// Truncated reports that the body was longer than what was read.
	Truncated bool
}

// Violation is one field error of a validation response.
type Violation struct {
	// Type is the machine-readable kind of failure ("missing",
	// "string_too_short", or Pydantic 1's "value_error.missing").
	Type string `json:"type"`
	// Loc locates the offending field, e.g. body.persons[0].name.
	Loc Path `json:"loc"`
	// Msg is the human-readable message.
	Msg string `json:"msg"`
	// Input is the offending value as raw JSON; nil when the server did not
	// send it (Pydantic 1 does not).
	Input json.RawMessage `json:"input,omitempty"`
	// Ctx holds extra facts about the failure as raw JSON (limits, actual
	// lengths), when the server sent them.
	Ctx json.RawMessage `json:"ctx,omitempty"`
}

// Path locates a field inside a request, as a sequence of object keys and
// array indexes.
type Path []PathElem

// PathElem is one step of a [Path]: an object key, or an array index when
// IsIndex is set.
type PathElem struct {
	Key     string
	Index   int
	IsIndex bool
}

// String renders p the way a programmer writes it: body.persons[0].name.
func (p Path) String() string {
	var b strings.Builder
	for i, e := range p {
		switch {
		case e.IsIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.Index))
			b.WriteByte(']')
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.Key)
		}
	}
	return b.String()
}

// UnmarshalJSON reads a JSON array of strings and integers. Items of any
// other type are kept as keys holding their JSON text, so no location is
// lost.
func (p *Path) UnmarshalJSON(data []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return fmt.Errorf("apierror: loc is not a list: %w", err)
	}
	out := make(Path, 0, len(items))
	for _, raw := range items {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			out = append(out, PathElem{Key: s})
			continue
		}
		var n int
		if err := json.Unmarshal(raw, &n); err == nil {
			out = append(out, PathElem{Index: n, IsIndex: true})
			continue
		}
		out = append(out, PathElem{Key: string(raw)})
	}
	*p = out
	return nil
}

// MarshalJSON writes p back as a JSON array of strings and integers.
func (p Path) MarshalJSON() ([]byte, error) {
	items := make([]any, len(p))
	for i, e := range p {
		if e.IsIndex {
			items[i] = e.Index
		} else {
			items[i] = e.Key
		}
	}
	return json.Marshal(items)
}

// Error reports the status and what the server said about it, for example
// "apierror: 422 Unprocessable Entity: body.persons[0].name: Field required".
// The server's text is not trusted into logs and terminals: control
// characters, line separators, invisible formatting characters and bytes
// that are not UTF-8 are written as Go escapes (\n, \x1b, \u2028, \xff);
// printable text, non-ASCII included, is kept as it is.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("apierror: ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteByte(' ')
		b.WriteString(text)
	}
	switch {
	case e.Detail != "":
		b.WriteString(": ")
		writeEscaped(&b, e.Detail)
	case len(e.Body) > 0:
		b.WriteString(": body ")
		b.WriteString(strconv.Quote(snippet(e.Body)))
	}
	return b.String()
}

// writeEscaped writes s to b, escaping what could forge or hide a log line:
// every rune that is not graphic (C0 and C1 controls such as \n, \r and
// ESC; U+2028 and U+2029; format characters such as bidi overrides) and
// every byte that is not UTF-8.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[s[i]>>4])
			b.WriteByte(hexDigits[s[i]&0xF])
		case unicode.IsGraphic(r):
			b.WriteString(s[i : i+size])
		default:
			var buf [16]byte
			q := strconv.AppendQuoteRune(buf[:0], r) // '\n', '\x1b', '\u2028'
			b.Write(q[1 : len(q)-1])
		}
		i += size
	}
}

const hexDigits = "0123456789abcdef"

// Is reports whether target is the sentinel for e's status ([ErrBadRequest]
// for 400, [ErrServerError] for any 5xx, ...).
func (e *Error) Is(target error) bool {
	s := sentinelFor(e.StatusCode)
	return s != nil && s == target
}

// Decode turns an error response into an [*Error]. It returns nil for a
// nil response or a status below 400.
//
// It reads at most [MaxBodyBytes] of the body and puts what it read back in
// front of the rest, so resp.Body stays readable from the start and the
// caller still closes it. Content-Type is not trusted: any body that parses
// as JSON is decoded, and gzip-encoded bodies (Content-Encoding: gzip, left
// compressed by the transport) are decompressed within the same bound.
// Decode never panics on malformed input.
func Decode(resp *http.Response) error {
	if resp == nil || resp.StatusCode < 400 {
		return nil
	}
	e := &Error{StatusCode: resp.StatusCode}
	if resp.Body == nil || resp.Body == http.NoBody {
		return e
	}
	buf, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	e.Truncated = len(buf) > MaxBodyBytes
	resp.Body = &rewoundBody{Reader: io.MultiReader(bytes.NewReader(buf), resp.Body), Closer: resp.Body}
	if readErr != nil {
		e.Truncated = true
	}
	if e.Truncated && len(buf) > MaxBodyBytes {
		buf = buf[:MaxBodyBytes]
	}
	if !resp.Uncompressed && strings.EqualFold(strings.TrimSpace(resp.Header.Get("Content-Encoding")), "gzip") {
		if plain, truncated, err := gunzip(buf); err == nil {
			buf = plain
			e.Truncated = e.Truncated || truncated
		}
	}
	e.Body = buf
	e.parse(buf)
	return e
}

// rewoundBody gives back the bytes Decode read, then the rest of the
// original body; Close closes the original.
type rewoundBody struct {
	io.Reader
	io.Closer
}

func gunzip(b []byte) (plain []byte, truncated bool, err error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, false, err
	}
	plain, err = io.ReadAll(io.LimitReader(zr, MaxBodyBytes+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, false, err
	}
	if len(plain) > MaxBodyBytes {
		return plain[:MaxBodyBytes], true, nil
	}
	return plain, err != nil, nil
}

// parse fills e from a JSON body, tolerating members of unexpected types.
func (e *Error) parse(body []byte) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return // not a JSON object: Error() quotes the raw body
	}
	e.Type = jsonString(doc["type"])
	e.Title = jsonString(doc["title"])
	e.Instance = jsonString(doc["instance"])

	detail := bytes.TrimSpace(doc["detail"])
	switch {
	case len(detail) == 0 || string(detail) == "null":
	case detail[0] == '"':
		e.Detail = jsonString(detail)
	case detail[0] == '[':
		var vs []Violation
		if json.Unmarshal(detail, &vs) == nil && len(vs) > 0 {
			e.Violations = vs
			e.Detail = summarize(vs)
		} else {
			e.Detail = snippet(compact(detail))
		}
	default:
		e.Detail = snippet(compact(detail))
	}
	if e.Detail == "" {
		e.Detail = e.Title
	}
}

// summarize renders the first few violations on one line.
func summarize(vs []Violation) string {
	const shown = 3
	var b strings.Builder
	for i, v := range vs {
		if i == shown {
			fmt.Fprintf(&b, "; and %d more", len(vs)-shown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		if loc := v.Loc.String(); loc != "" {
			b.WriteString(loc)
			b.WriteString(": ")
		}
		b.WriteString(v.Msg)
	}
	return b.String()
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func compact(raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// snippet returns at most snippetBytes of b as valid UTF-8.
func snippet(b []byte) string {
	if len(b) <= snippetBytes {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	// Cut before the character that straddles the limit, if any.
	cut := snippetBytes
	for i := cut; i > cut-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			cut = i
			break
		}
	}
	return strings.ToValidUTF8(string(b[:cut]), "\uFFFD") + "…"
}
