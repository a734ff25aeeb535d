package idempotency

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recorder answers each request with the next status of a script (the
// last one repeats) and records what it was sent.
type recorder struct {
	mu       sync.Mutex
	statuses []int
	sent     []*http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	code := r.statuses[min(len(r.sent), len(r.statuses)-1)]
	r.sent = append(r.sent, req)
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

var uuidV7Form = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestUUIDv7 guards the RFC 9562 layout: 48 bits of milliseconds, version
// 7, variant 10, random bits that differ from key to key.
func TestUUIDv7(t *testing.T) {
	now := time.UnixMilli(0x0190a6e45c3a)
	seen := make(map[string]bool)
	for range 1000 {
		k := uuidV7(now)
		if !uuidV7Form.MatchString(k) {
			t.Fatalf("uuidV7() = %q, want the 8-4-4-4-12 form with version 7 and variant 10", k)
		}
		if ts := strings.ReplaceAll(k[:13], "-", ""); ts != "0190a6e45c3a" {
			t.Fatalf("uuidV7() = %q: time prefix %s, want 0190a6e45c3a", k, ts)
		}
		if seen[k] {
			t.Fatalf("uuidV7() = %q twice in 1000 keys of one millisecond", k)
		}
		seen[k] = true
	}
	// Every random bit varies: no bit of the 74 is stuck across the keys.
	var or, and [16]byte
	for i := range and {
		and[i] = 0xff
	}
	for k := range seen {
		for i := range 16 {
			h := strings.ReplaceAll(k, "-", "")
			b, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
			or[i] |= byte(b)
			and[i] &= byte(b)
		}
	}
	for i := 6; i < 16; i++ {
		free := byte(0xff)
		switch i {
		case 6:
			free = 0x0f
		case 8:
			free = 0x3f
		}
		if or[i]&free != free || and[i]&free != 0 {
			t.Errorf("byte %d: random bits %08b set in some key, %08b in all; want all of %08b varying", i, or[i], and[i], free)
		}
	}
	if k := UUIDv7(); !uuidV7Form.MatchString(k) {
		t.Errorf("UUIDv7() = %q", k)
	} else if ms, _ := strconv.ParseInt(strings.ReplaceAll(k[:13], "-", ""), 16, 64); time.Since(time.UnixMilli(ms)).Abs() > time.Minute {
		t.Errorf("UUIDv7() = %q: time %v, want now", k, time.UnixMilli(ms))
	}
}

// TestMethods guards which requests get a key: POST and PATCH only. Any
// other passes as the very request the caller gave.
func TestMethods(t *testing.T) {
	for _, tc := range []struct {
		method string
		keyed  bool
	}{
		{http.MethodPost, true}, {http.MethodPatch, true},
		{"", false}, {http.MethodGet, false}, {http.MethodHead, false}, {http.MethodPut, false},
		{http.MethodDelete, false}, {http.MethodOptions, false}, {"post", false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			rec := &recorder{statuses: []int{200}}
			req, _ := http.NewRequest(tc.method, "http://example.test/x", nil)
			resp, err := New(rec, Policy{}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sent := rec.sent[0]
			if got := sent.Header.Get(DefaultHeader); (got != "") != tc.keyed {
				t.Errorf("%q: sent Idempotency-Key %q, want one: %v", tc.method, got, tc.keyed)
			}
			if !tc.keyed && sent != req {
				t.Errorf("%q: sent a copy, want the caller's request as it is", tc.method)
			}
			if tc.keyed && !uuidV7Form.MatchString(sent.Header.Get(DefaultHeader)) {
				t.Errorf("key %q, want a UUIDv7", sent.Header.Get(DefaultHeader))
			}
		})
	}
}

// TestCallerKeyKept guards that a key the caller set is never replaced,
// nor joined by a second one.
func TestCallerKeyKept(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		header string
	}{
		{"Idempotency-Key", Policy{}, "Idempotency-Key"},
		{"X-Idempotency-Key", Policy{}, "X-Idempotency-Key"},
		{"empty value", Policy{}, "Idempotency-Key"},
		{"policy header", Policy{Header: "x-request-key"}, "X-Request-Key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{statuses: []int{200}}
			req, _ := http.NewRequest(http.MethodPost, "http://example.test/x", strings.NewReader("{}"))
			want := "caller-key"
			if tc.name == "empty value" {
				want = ""
			}
			req.Header[tc.header] = []string{want}
			if _, err := New(rec, tc.policy).RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			sent := rec.sent[0]
			if sent != req {
				t.Errorf("sent a copy, want the caller's request as it is")
			}
			if got := sent.Header[tc.header]; !slices.Equal(got, []string{want}) {
				t.Errorf("sent %s = %q, want the caller's %q", tc.header, got, want)
			}
			if len(sent.Header) != 1 {
				t.Errorf("sent header %v, want only the caller's key", sent.Header)
			}
		})
	}
}

// TestCallerRequestUnchanged guards the RoundTripper contract: the
// caller's request, header map and value slices stay as they were; the
// copy sent carries them all plus the key, and is the response's Request.
func TestCallerRequestUnchanged(t *testing.T) {
	rec := &recorder{statuses: []int{200}}
	req, _ := http.NewRequest(http.MethodPatch, "http://example.test/x", strings.NewReader("{}"))
	req.Header.Add("Accept", "a")
	req.Header.Add("Accept", "b")
	req.Header["X-Nil"] = nil
	before := req.Header.Clone()
	ctx, url, body := req.Context(), req.URL, req.Body
	resp, err := New(rec, Policy{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	sent := rec.sent[0]
	if sent == req {
		t.Fatal("sent the caller's request, want a keyed copy")
	}
	if !maps.EqualFunc(req.Header, before, slices.Equal) || req.Header[DefaultHeader] != nil {
		t.Errorf("caller's header = %v after RoundTrip, want %v", req.Header, before)
	}
	if req.Context() != ctx || req.URL != url || req.Body != body || sent.Body != body || sent.Method != http.MethodPatch {
		t.Error("copy does not carry the caller's context, URL, body and method, or the caller's were changed")
	}
	key := sent.Header.Get(DefaultHeader)
	want := before.Clone()
	want[DefaultHeader] = []string{key}
	if !maps.EqualFunc(sent.Header, want, slices.Equal) || sent.Header["X-Nil"] != nil {
		t.Errorf("sent header = %v, want %v", sent.Header, want)
	}
	// A layer below that appends to a value (against the contract) still
	// cannot write into the caller's slices or the key's neighbour.
	sent.Header["Accept"] = append(sent.Header["Accept"], "c")
	sent.Header["Accept"][0] = "z"
	if got := req.Header["Accept"]; !slices.Equal(got, []string{"a", "b"}) || sent.Header.Get(DefaultHeader) != key {
		t.Errorf("caller's Accept = %q, key %q after a write below; want [a b], %q", got, sent.Header.Get(DefaultHeader), key)
	}
	if resp.Request != sent {
		t.Error("resp.Request is not the keyed request sent")
	}
}

// TestOneKeyPerLogicalRequest guards the point of the layer: above retry,
// every attempt of one request carries the same key, so retry's
// RequireIdempotencyKey lets it retry a 500 to a POST; two requests get
// two keys.
func TestOneKeyPerLogicalRequest(t *testing.T) {
	rp := retry.Policy{RequireIdempotencyKey: true, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	rec := &recorder{statuses: []int{500, 502, 200}}
	rt := New(retry.New(rec, rp), Policy{})
	var keys []string
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, "http://example.test/x", strings.NewReader(`{"n":1}`))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get(DefaultHeader) != "" {
			t.Error("caller's request got the key")
		}
	}
	for _, r := range rec.sent {
		keys = append(keys, r.Header.Get(DefaultHeader))
	}
	if len(keys) != 4 {
		t.Fatalf("%d attempts (keys %q), want 3 for the first request (500, 502, 200) and 1 for the second", len(keys), keys)
	}
	if keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Errorf("keys of one request's attempts = %q, want one key on all", keys[:3])
	}
	if keys[3] == keys[0] {
		t.Errorf("two requests share key %q, want a key each", keys[0])
	}

	// Without the layer, the same policy sends the POST once.
	rec = &recorder{statuses: []int{500, 200}}
	req, _ := http.NewRequest(http.MethodPost, "http://example.test/x", strings.NewReader(`{"n":1}`))
	resp, err := retry.New(rec, rp).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(rec.sent) != 1 || resp.StatusCode != 500 {
		t.Errorf("without keys: %d attempts, status %d; want 1, 500 (the control)", len(rec.sent), resp.StatusCode)
	}
}

// TestPolicy guards that a policy's header and generator are used.
func TestPolicy(t *testing.T) {
	rec := &recorder{statuses: []int{200}}
	n := 0
	rt := New(rec, Policy{Header: "x-op-id", New: func() string { n++; return "k" + strconv.Itoa(n) }})
	req, _ := http.NewRequest(http.MethodPost, "http://example.test/x", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if got := rec.sent[0].Header["X-Op-Id"]; !slices.Equal(got, []string{"k1"}) || rec.sent[0].Header.Get(DefaultHeader) != "" {
		t.Errorf("sent header %v, want X-Op-Id: k1 alone", rec.sent[0].Header)
	}
}

// TestContract guards the lower contract: a nil request is refused (its
// body closed), a (nil, nil) from below becomes an error, errors pass.
func TestContract(t *testing.T) {
	rt := New(rtFunc(func(*http.Request) (*http.Response, error) { return nil, nil }), Policy{})
	if _, err := rt.RoundTrip(nil); !errors.Is(err, errclass.ErrInvalidRequest) {
		t.Errorf("RoundTrip(nil) error = %v, want ErrInvalidRequest", err)
	}
	body := &closeCounter{}
	req, _ := http.NewRequest(http.MethodPost, "http://example.test/x", body)
	req.URL = nil
	if _, err := rt.RoundTrip(req); !errors.Is(err, errclass.ErrInvalidRequest) || body.n != 1 {
		t.Errorf("RoundTrip(no URL) error = %v, body closed %d times; want ErrInvalidRequest, 1", err, body.n)
	}
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		req, _ = http.NewRequest(m, "http://example.test/x", nil)
		if _, err := rt.RoundTrip(req); !errors.Is(err, errclass.ErrNilResponse) {
			t.Errorf("%s: (nil, nil) below: error = %v, want ErrNilResponse", m, err)
		}
	}
	boom := errors.New("boom")
	rt = New(rtFunc(func(*http.Request) (*http.Response, error) { return nil, boom }), Policy{})
	if _, err := rt.RoundTrip(req); err != boom {
		t.Errorf("error = %v, want the one from below as it is", err)
	}
}

type closeCounter struct{ n int }

func (c *closeCounter) Read([]byte) (int, error) { return 0, io.EOF }
func (c *closeCounter) Close() error             { c.n++; return nil }

var okResp = &http.Response{StatusCode: 200, Body: http.NoBody}

// stub answers every request with okResp and allocates nothing.
var stub = rtFunc(func(*http.Request) (*http.Response, error) { return okResp, nil })

// TestAllocs guards the cost: nothing for requests that pass through,
// and a bounded handful for a keyed POST.
func TestAllocs(t *testing.T) {
	rt := New(stub, Policy{})
	get, _ := http.NewRequest(http.MethodGet, "http://example.test/x", nil)
	keyed, _ := http.NewRequest(http.MethodPost, "http://example.test/x", nil)
	keyed.Header.Set(DefaultHeader, "k")
	post, _ := http.NewRequest(http.MethodPost, "http://example.test/x", nil)
	post.Header.Set("Content-Type", "application/json")
	for _, tc := range []struct {
		name string
		req  *http.Request
		max  float64
	}{{"GET", get, 0}, {"POST with a key", keyed, 0}, {"POST", post, 5}} {
		if raceEnabled && tc.max > 0 {
			continue
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = rt.RoundTrip(tc.req) }); n > tc.max {
			t.Errorf("%s: %v allocs per RoundTrip, want at most %v", tc.name, n, tc.max)
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	rt := New(stub, Policy{})
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		b.Run(m, func(b *testing.B) {
			req, _ := http.NewRequest(m, "http://example.test/x", nil)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer x")
			b.ReportAllocs()
			for b.Loop() {
				_, _ = rt.RoundTrip(req)
			}
		})
	}
	b.Run("UUIDv7", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = UUIDv7()
		}
	})
}
