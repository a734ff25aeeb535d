package apierror

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func response(code int, body string, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

func decodeAPI(t *testing.T, resp *http.Response) *Error {
	t.Helper()
	err := Decode(resp)
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("Decode() = %v, want *Error", err)
	}
	return apiErr
}

// TestDecodePartnerBodies reads every real body in testdata and checks that
// the decoder extracts what a caller needs from each.
func TestDecodePartnerBodies(t *testing.T) {
	tests := []struct {
		file       string
		sentinel   error
		detail     string
		violations int
		firstType  string
		firstLoc   string
		firstInput string
	}{
		{"402-insufficient-credits.json", ErrInsufficientCredits, "Insufficient credits", 0, "", "", ""},
		{"404-fastapi-default.json", ErrNotFound, "Not Found", 0, "", "", ""},
		{"405-fastapi-default.json", nil, "Method Not Allowed", 0, "", "", ""},
		{"422-missing-name.json", ErrValidation, "body.persons[0].name: Field required", 1, "missing", "body.persons[0].name", `{"email":"a@example.org"}`},
		{"422-export-missing-fields.json", ErrValidation, "body.fields: Field required", 1, "missing", "body.fields", `{"list_id":"lst_1"}`},
		{"422-list-empty-name.json", ErrValidation, "body.name: String should have at least 1 character", 1, "string_too_short", "body.name", `""`},
		{"422-missing-body-field.json", ErrValidation, "body.persons: Field required", 1, "missing", "body.persons", `{}`},
		{"422-persons-not-list.json", ErrValidation, "body.persons: Input should be a valid list", 1, "list_type", "body.persons", `"everyone"`},
		{"422-pydantic-v1-json-decode.json", ErrValidation, "body[20]: Expecting value: line 1 column 21 (char 20)", 1, "value_error.jsondecode", "body[20]", ""},
		{"422-pydantic-v1-missing-name.json", ErrValidation, "body.persons[0].name: field required", 1, "value_error.missing", "body.persons[0].name", ""},
		{"422-results-too-many-ids.json", ErrValidation, "body.job_ids: List should have at most 10 items after validation, not 11", 1, "too_long", "body.job_ids", ""},
		{"422-too-many-persons.json", ErrValidation, "body.persons: List should have at most 100 items after validation, not 101", 1, "too_long", "body.persons", ""},
		{"422-wrong-types.json", ErrValidation, "body.persons[0].name: Input should be a valid string; body.persons[0].age: Input should be a valid integer, unable to parse string as an integer", 2, "string_type", "body.persons[0].name", "12"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			code := 0
			for _, c := range tc.file[:3] {
				code = code*10 + int(c-'0')
			}
			resp := response(code, string(body), http.Header{"Content-Type": {"application/json"}})
			e := decodeAPI(t, resp)
			if e.StatusCode != code || e.Detail != tc.detail {
				t.Errorf("Decode() = %d %q, want %d %q", e.StatusCode, e.Detail, code, tc.detail)
			}
			if tc.sentinel != nil && !errors.Is(e, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", e, tc.sentinel)
			}
			if len(e.Violations) != tc.violations {
				t.Fatalf("len(Violations) = %d, want %d", len(e.Violations), tc.violations)
			}
			if tc.violations > 0 {
				v := e.Violations[0]
				if v.Type != tc.firstType || v.Loc.String() != tc.firstLoc || v.Msg == "" {
					t.Errorf("Violations[0] = %q %q %q, want %q %q", v.Type, v.Loc, v.Msg, tc.firstType, tc.firstLoc)
				}
				if tc.firstInput != "" && string(v.Input) != tc.firstInput {
					t.Errorf("Violations[0].Input = %s, want %s", v.Input, tc.firstInput)
				}
			}
			// The caller can still read the whole body after Decode.
			again, _ := io.ReadAll(resp.Body)
			if !bytes.Equal(again, body) {
				t.Errorf("body after Decode = %q, want the original %q", again, body)
			}
		})
	}
}

func TestDecodeLocKeepsMixedItems(t *testing.T) {
	e := decodeAPI(t, response(422, `{"detail":[{"type":"t","loc":["body","persons",0,"name",true,1.5],"msg":"m"}]}`, nil))
	loc := e.Violations[0].Loc
	want := Path{{Key: "body"}, {Key: "persons"}, {Index: 0, IsIndex: true}, {Key: "name"}, {Key: "true"}, {Key: "1.5"}}
	if len(loc) != len(want) {
		t.Fatalf("Loc = %#v, want %#v", loc, want)
	}
	for i := range want {
		if loc[i] != want[i] {
			t.Errorf("Loc[%d] = %#v, want %#v", i, loc[i], want[i])
		}
	}
	out, err := json.Marshal(loc[:4])
	if err != nil || string(out) != `["body","persons",0,"name"]` {
		t.Errorf("Marshal(Loc) = %s, %v", out, err)
	}
}

func TestDecodeShapes(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name     string
		code     int
		body     string
		h        http.Header
		sentinel error
		detail   string
		inError  string
	}{
		{"problem+json", 429, `{"type":"https://example.com/probs/rate","title":"Too fast","status":429,"detail":"Slow down","instance":"/v1/x"}`,
			http.Header{"Content-Type": {"application/problem+json"}}, ErrRateLimited, "Slow down", "429 Too Many Requests: Slow down"},
		{"problem title only", 500, `{"title":"Boom"}`, nil, ErrServerError, "Boom", "500 Internal Server Error: Boom"},
		{"plain text", 502, "Bad Gateway from nginx", nil, ErrServerError, "", `502 Bad Gateway: body "Bad Gateway from nginx"`},
		{"html", 503, "<html><body>down</body></html>", nil, ErrServerError, "", `body "<html><body>down</body></html>"`},
		{"empty body", 404, "", nil, ErrNotFound, "", "404 Not Found"},
		{"detail number", 400, `{"detail": 42}`, nil, ErrBadRequest, "42", "400 Bad Request: 42"},
		{"detail object", 400, `{"detail": {"code": "dup", "name": "x"}}`, nil, ErrBadRequest, `{"code":"dup","name":"x"}`, "dup"},
		{"detail null", 400, `{"detail": null}`, nil, ErrBadRequest, "", "400 Bad Request"},
		{"detail list of strings", 422, `{"detail": ["a", "b"]}`, nil, ErrValidation, `["a","b"]`, `["a","b"]`},
		{"detail empty list", 422, `{"detail": []}`, nil, ErrValidation, `[]`, "422"},
		{"truncated json", 400, `{"detail": "dup`, nil, ErrBadRequest, "", `body "{\"detail\": \"dup"`},
		{"json array body", 400, `[1,2]`, nil, ErrBadRequest, "", `body "[1,2]"`},
		{"non-UTF-8 detail", 400, "{\"detail\": \"caf\xe9\"}", nil, ErrBadRequest, "caf\uFFFD", "caf\uFFFD"},
		{"long non-JSON body", 500, long, nil, ErrServerError, "", "…"},
		{"unknown status", 418, `{"detail":"teapot"}`, nil, nil, "teapot", "418 I'm a teapot: teapot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := decodeAPI(t, response(tc.code, tc.body, tc.h))
			if e.Detail != tc.detail {
				t.Errorf("Detail = %q, want %q", e.Detail, tc.detail)
			}
			if tc.sentinel != nil && !errors.Is(e, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", e, tc.sentinel)
			}
			for _, s := range []error{ErrBadRequest, ErrInsufficientCredits, ErrNotFound, ErrValidation, ErrRateLimited, ErrServerError} {
				if s != tc.sentinel && errors.Is(e, s) {
					t.Errorf("errors.Is(%v, %v) = true, want false", e, s)
				}
			}
			msg := e.Error()
			if !strings.Contains(msg, tc.inError) || !strings.HasPrefix(msg, "apierror: ") || !utf8.ValidString(msg) {
				t.Errorf("Error() = %q, want it to contain %q", msg, tc.inError)
			}
			if len(msg) > 400 {
				t.Errorf("len(Error()) = %d, want a bounded message", len(msg))
			}
		})
	}
}

func TestDecodeProblemMembers(t *testing.T) {
	e := decodeAPI(t, response(400, `{"type":"urn:x","title":"T","detail":"D","instance":"/i","title2":5}`, nil))
	if e.Type != "urn:x" || e.Title != "T" || e.Instance != "/i" || e.Detail != "D" {
		t.Errorf("Decode() = %+v", e)
	}
	// Members of the wrong type are ignored, not fatal.
	e = decodeAPI(t, response(400, `{"type":5,"title":["x"],"detail":"still here"}`, nil))
	if e.Detail != "still here" || e.Type != "" || e.Title != "" {
		t.Errorf("Decode() with odd member types = %+v", e)
	}
}

func TestDecodeNonErrors(t *testing.T) {
	if err := Decode(nil); err != nil {
		t.Errorf("Decode(nil) = %v", err)
	}
	for _, code := range []int{200, 202, 204, 302} {
		if err := Decode(response(code, `{"detail":"x"}`, nil)); err != nil {
			t.Errorf("Decode(%d) = %v, want nil", code, err)
		}
	}
	if err := Decode(&http.Response{StatusCode: 500, Header: http.Header{}}); err == nil || !errors.Is(err, ErrServerError) {
		t.Errorf("Decode(500 with nil body) = %v, want ErrServerError", err)
	}
}

// countingReader is an endless body that counts what is read from it.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestDecodeBoundsHugeBody(t *testing.T) {
	src := &countingReader{}
	resp := &http.Response{StatusCode: 500, Header: http.Header{}, Body: io.NopCloser(src)}
	e := decodeAPI(t, resp)
	if !e.Truncated || len(e.Body) != MaxBodyBytes {
		t.Errorf("Truncated = %v, len(Body) = %d; want true, %d", e.Truncated, len(e.Body), MaxBodyBytes)
	}
	if src.n > 1<<20+64<<10 { // the README: at most 1 MiB
		t.Errorf("Decode read %d bytes of an endless body, want about 1 MiB", src.n)
	}
	// The rest of the body is still there for the caller.
	buf := make([]byte, MaxBodyBytes+10)
	if n, _ := io.ReadFull(resp.Body, buf); n != len(buf) {
		t.Errorf("read %d bytes after Decode, want %d", n, len(buf))
	}
}

func TestDecodeGzipBody(t *testing.T) {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(`{"detail":"Insufficient credits"}`))
	zw.Close()
	raw := zb.String()
	resp := response(402, raw, http.Header{"Content-Encoding": {"gzip"}})
	e := decodeAPI(t, resp)
	if e.Detail != "Insufficient credits" || !errors.Is(e, ErrInsufficientCredits) {
		t.Errorf("Decode(gzip) = %v", e)
	}
	again, _ := io.ReadAll(resp.Body)
	if string(again) != raw {
		t.Error("body after Decode is not the original compressed bytes")
	}
	// A body that claims gzip but is not still decodes as what it is.
	e = decodeAPI(t, response(400, `{"detail":"plain"}`, http.Header{"Content-Encoding": {"gzip"}}))
	if e.Detail != "plain" {
		t.Errorf("Decode(fake gzip) Detail = %q, want plain", e.Detail)
	}
}

type failingBody struct{ r io.Reader }

func (b failingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}
func (failingBody) Close() error { return nil }

func TestDecodeReadError(t *testing.T) {
	resp := &http.Response{StatusCode: 500, Header: http.Header{}, Body: failingBody{strings.NewReader(`{"detail":"par`)}}
	e := decodeAPI(t, resp)
	if !e.Truncated || string(e.Body) != `{"detail":"par` {
		t.Errorf("Decode() = %+v, want the bytes read and Truncated", e)
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(422, b)
	}
	f.Add(400, []byte(`{"detail":"x"}`))
	f.Add(429, []byte(`{"type":"a","title":"b","detail":"c"}`))
	f.Add(500, []byte("\xff\xfe"))
	f.Add(400, []byte(`{"detail":"a\nb\u001b[31m\u2028"}`))
	f.Add(422, []byte(`{"detail":[{"type":"t","loc":["body","x\ny"],"msg":"m\r\nForged: 1"}]}`))
	f.Add(503, []byte("down\r\n\x1b[2J"))
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		resp := &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		err := Decode(resp)
		if code < 400 {
			if err != nil {
				t.Fatalf("Decode(%d) = %v, want nil", code, err)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Decode(%d) = %v, want *Error", code, err)
		}
		if msg := e.Error(); !utf8.ValidString(msg) || !allGraphic(msg) {
			t.Fatalf("Error() = %q: not valid UTF-8, or holds a control character", msg)
		}
		again, _ := io.ReadAll(resp.Body)
		if !bytes.Equal(again, body) {
			t.Fatalf("body after Decode differs from the original")
		}
	})
}

// The server's text must not forge log lines or drive a terminal when an
// Error is printed: Error() escapes what is not graphic, and Detail keeps
// the raw text. Issue 12, item 8.
func TestAPIErrorEscapesServerText(t *testing.T) {
	tests := []struct{ detail, want string }{
		{"line1\nline2", `line1\nline2`},
		{"a\rb", `a\rb`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"nul\x00end", `nul\x00end`},
		{"tab\there", `tab\there`},
		{"del\x7f", `del\x7f`},
		{"c1\u0085next", `c1\u0085next`},
		{"ls\u2028ps\u2029", `ls\u2028ps\u2029`},
		{"bidi\u202egnp.exe", `bidi\u202egnp.exe`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		// Printable text stays readable, non-ASCII and backslashes included.
		{"café 日本語 ✓ \u00a0nbsp \\n \uFFFD", "café 日本語 ✓ \u00a0nbsp \\n \uFFFD"},
	}
	for _, tc := range tests {
		e := &Error{StatusCode: 400, Detail: tc.detail}
		if got, want := e.Error(), "apierror: 400 Bad Request: "+tc.want; got != want {
			t.Errorf("Error() with Detail %q = %q, want %q", tc.detail, got, want)
		}
		if e.Detail != tc.detail {
			t.Errorf("Error() changed Detail to %q", e.Detail)
		}
	}

	// The same through Decode: a detail string and a validation list.
	for _, tc := range []struct{ body, rawDetail string }{
		{`{"detail":"boom\n\u001b[2JInjected: yes"}`, "boom\n\x1b[2JInjected: yes"},
		{`{"detail":[{"type":"t","loc":["body","na\nme"],"msg":"bad\r\nInjected: yes"}]}`, "body.na\nme: bad\r\nInjected: yes"},
	} {
		e := decodeAPI(t, response(422, tc.body, nil))
		if e.Detail != tc.rawDetail {
			t.Errorf("Detail = %q, want the raw %q", e.Detail, tc.rawDetail)
		}
		if msg := e.Error(); !allGraphic(msg) || !strings.Contains(msg, "Injected: yes") {
			t.Errorf("Error() = %q, want control characters escaped and the text kept", msg)
		}
	}
}

// allGraphic reports whether s holds only graphic runes (spaces included).
func allGraphic(s string) bool {
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return false
		}
	}
	return true
}
