package credits

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const submitKey = "POST https://partner.test/v1/enhancements"

// reply is what the fake API of these tests answers.
type reply struct {
	status int
	ctype  string
	header http.Header
	body   string
}

// replier answers every request with its current reply and counts them.
type replier struct {
	cur  atomic.Pointer[reply]
	hits atomic.Int32
}

func (r *replier) set(rp reply) { r.cur.Store(&rp) }

func (r *replier) RoundTrip(req *http.Request) (*http.Response, error) {
	r.hits.Add(1)
	rp := *r.cur.Load()
	h := http.Header{}
	for k, v := range rp.header {
		h[k] = v
	}
	if rp.ctype != "" {
		h.Set("Content-Type", rp.ctype)
	}
	if rp.status == 0 {
		rp.status = http.StatusAccepted
	}
	return &http.Response{StatusCode: rp.status, Header: h, Body: io.NopCloser(strings.NewReader(rp.body)),
		ContentLength: int64(len(rp.body)), Request: req}, nil
}

func newSignalTest(p Policy, rp reply) (*Transport, *replier, *clock) {
	r := &replier{}
	r.set(rp)
	tr := New(r, p)
	clk := &clock{now: time.Now()}
	tr.now = clk.Now
	return tr, r, clk
}

func submit(t *testing.T, tr *Transport) *http.Response {
	t.Helper()
	resp, err := tr.RoundTrip(must(http.NewRequest("POST", "https://partner.test/v1/enhancements", strings.NewReader(`{}`))))
	if err != nil {
		t.Fatalf("submit: %v, want it sent", err)
	}
	return resp
}

func remainingBody(n int) string {
	return fmt.Sprintf(`{"job_id":"job_1","meta":{"imports_remaining":%d}}`, n)
}

var fieldPolicy = Policy{RemainingField: "meta.imports_remaining"}

func jsonReply(body string) reply { return reply{ctype: "application/json", body: body} }

// Issue 13 item 2: a header at zero latches the route before any 402.
func TestRemainingHeaderLatches(t *testing.T) {
	tr, r, clk := newSignalTest(Policy{RemainingHeader: "x-credits-remaining"},
		reply{header: http.Header{"X-Credits-Remaining": {"2"}}})
	submit(t, tr).Body.Close()
	if got := tr.Remaining(); got[submitKey] != 2 || len(got) != 1 {
		t.Errorf("Remaining() = %v, want %s: 2", got, submitKey)
	}
	if got := tr.Latched(); len(got) != 0 {
		t.Fatalf("Latched() with 2 left = %q, want none", got)
	}
	r.set(reply{header: http.Header{"X-Credits-Remaining": {" 0 "}}})
	submit(t, tr).Body.Close() // the last credit spent: the response is passed on
	if got := tr.Remaining(); got[submitKey] != 0 {
		t.Errorf("Remaining() = %v, want 0", got)
	}
	ce := refused(t, tr, "POST", "/v1/enhancements")
	if !ce.Anticipated || ce.Key != submitKey {
		t.Errorf("refusal = %+v, want the route, anticipated", ce)
	}
	if want := clk.Now().Add(DefaultCooldown); !ce.Until.Equal(want) {
		t.Errorf("refusal Until = %v, want %v (a cooldown, as after a 402)", ce.Until, want)
	}
	if msg := ce.Error(); !strings.Contains(msg, "a response reported no credits left") || strings.Contains(msg, "402") {
		t.Errorf("refusal message %q, want it to say no credits were left (no 402 came)", msg)
	}
	if n := r.hits.Load(); n != 2 {
		t.Errorf("%d requests reached the server, want 2", n)
	}
	passes(t, tr, "GET", "/v1/jobs/1/results") // other routes go on

	// Negative counts latch too; malformed ones are ignored.
	for _, v := range []string{"-1", "none", "1.5", ""} {
		tr, r, _ := newSignalTest(Policy{RemainingHeader: "X-Credits-Remaining"},
			reply{header: http.Header{"X-Credits-Remaining": {v}}})
		submit(t, tr).Body.Close()
		_, err := send(t, tr, "POST", "/v1/enhancements")
		if latched := err != nil; latched != (v == "-1") {
			t.Errorf("header %q: second submit error = %v; want latched only for a count ≤ 0", v, err)
		}
		if _, ok := tr.Remaining()[submitKey]; ok != (v == "-1") {
			t.Errorf("header %q: Remaining() = %v", v, tr.Remaining())
		}
		_ = r
	}
}

// Issue 13 item 2: a body field latches only once the caller has read it,
// never when RoundTrip returns.
func TestRemainingFieldLatchesAfterRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(io.ReadCloser) // what the caller does with the body
		want bool                // latched after
	}{
		{"read to EOF", func(b io.ReadCloser) { io.ReadAll(b) }, true},
		{"decoded then closed", func(b io.ReadCloser) {
			var v map[string]any
			json.NewDecoder(b).Decode(&v) // reads the value, not necessarily EOF
			b.Close()
		}, true},
		{"read in 1-byte steps", func(b io.ReadCloser) {
			p := make([]byte, 1)
			for {
				if _, err := b.Read(p); err != nil {
					return
				}
			}
		}, true},
		{"closed unread", func(b io.ReadCloser) { b.Close() }, false},
		{"closed before the field", func(b io.ReadCloser) { io.ReadFull(b, make([]byte, 20)); b.Close() }, false},
		{"closed right after the digit", func(b io.ReadCloser) {
			// `..."imports_remaining":0` read, `}}` not: the number might go on.
			io.ReadFull(b, make([]byte, len(remainingBody(0))-2))
			b.Close()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, r, _ := newSignalTest(fieldPolicy, jsonReply(remainingBody(0)))
			resp := submit(t, tr)
			if got := tr.Latched(); len(got) != 0 {
				t.Fatalf("Latched() when RoundTrip returned = %q, want none: the caller has not read the body", got)
			}
			if got := tr.Remaining(); len(got) != 0 {
				t.Fatalf("Remaining() before the read = %v, want empty", got)
			}
			tc.read(resp.Body)
			resp.Body.Close()
			if got := len(tr.Latched()) == 1; got != tc.want {
				t.Fatalf("latched after the caller's read = %v (%q), want %v", got, tr.Latched(), tc.want)
			}
			if !tc.want {
				return
			}
			if got := tr.Remaining(); got[submitKey] != 0 || len(got) != 1 {
				t.Errorf("Remaining() = %v, want %s: 0", got, submitKey)
			}
			if ce := refused(t, tr, "POST", "/v1/enhancements"); !ce.Anticipated {
				t.Errorf("refusal %+v, want Anticipated", ce)
			}
			if n := r.hits.Load(); n != 1 {
				t.Errorf("%d requests reached the server, want 1", n)
			}
		})
	}
}

// Issue 13 item 2: only a bounded prefix is kept. A value past it is
// ignored, a number cut by the bound is not taken, and memory does not
// grow with the body.
func TestRemainingFieldBounded(t *testing.T) {
	pad := func(n int) string { return `"pad":"` + strings.Repeat("x", n) + `"` }
	t.Run("after the bound", func(t *testing.T) {
		tr, _, _ := newSignalTest(fieldPolicy, jsonReply(`{`+pad(4<<10)+`,"meta":{"imports_remaining":0}}`)) // the README: at most 4 KiB
		resp := submit(t, tr)
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := tr.Latched(); len(got) != 0 {
			t.Errorf("Latched() = %q, want none: the field is past the first 4 KiB", got)
		}
	})
	t.Run("before the bound, huge body", func(t *testing.T) {
		tr, _, _ := newSignalTest(fieldPolicy, jsonReply(`{"meta":{"imports_remaining":0},`+pad(4*MaxPrefix)+`}`))
		resp := submit(t, tr)
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := tr.Latched(); len(got) != 1 {
			t.Errorf("Latched() = %q, want the route: the field is within the prefix", got)
		}
	})
	t.Run("number cut by the bound", func(t *testing.T) {
		// The prefix ends after the "1" of 10.
		head, tail := `{"pad":"`, `","meta":{"imports_remaining":`
		body := head + strings.Repeat("x", MaxPrefix-1-len(head)-len(tail)) + tail + `10}}`
		if i := strings.Index(body, "10}"); i != MaxPrefix-1 {
			t.Fatalf("bad test body: the number starts at %d, want %d", i, MaxPrefix-1)
		}
		tr, _, _ := newSignalTest(fieldPolicy, jsonReply(body+strings.Repeat(" ", 100)))
		resp := submit(t, tr)
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := tr.Remaining(); len(got) != 0 {
			t.Errorf("Remaining() = %v, want empty: the prefix holds only the first digit of 10", got)
		}
	})
	t.Run("memory", func(t *testing.T) {
		const size = 32 << 20
		r := rtFunc(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(&hugeJSON{left: size}), ContentLength: -1, Request: req}, nil
		})
		tr := New(r, fieldPolicy)
		resp := submit(t, tr)
		wb, ok := resp.Body.(*watchedBody)
		if !ok {
			t.Fatalf("body %T not watched", resp.Body)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p := make([]byte, 32<<10)
		for {
			_, err := resp.Body.Read(p)
			if wb.prefix != nil && cap(*wb.prefix) > MaxPrefix { // this goroutine reads: no lock
				t.Fatalf("prefix grew to %d bytes, want at most %d", cap(*wb.prefix), MaxPrefix)
			}
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("reading a %d MiB body allocated %d KiB, want under 1 MiB", size>>20, grew>>10)
		}
		if got := tr.Latched(); len(got) != 0 {
			t.Errorf("Latched() = %q, want none (the field is at the end)", got)
		}
	})
}

// A caller that asks for compression itself (Accept-Encoding: gzip, as
// some SDKs do) gets the body gzip-encoded: the field is read from what
// the caller read, decompressed, within the same bounds.
func TestRemainingFieldGzipBody(t *testing.T) {
	gz := func(s string) string {
		var b strings.Builder
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, s)
		zw.Close()
		return b.String()
	}
	pad := `"pad":"` + strings.Repeat("x", MaxPrefix) + `"`
	// Decompressed, the prefix ends after the "1" of 10.
	head, tail := `{"pad":"`, `","meta":{"imports_remaining":`
	cut := head + strings.Repeat("x", MaxPrefix-1-len(head)-len(tail)) + tail + `10}}`
	for _, tc := range []struct {
		name string
		body string // before compression
		read func(io.ReadCloser)
		want bool // latched after
	}{
		{"read to EOF", remainingBody(0), func(b io.ReadCloser) { io.ReadAll(b) }, true},
		{"read in 1-byte steps", remainingBody(0), func(b io.ReadCloser) {
			p := make([]byte, 1)
			for {
				if _, err := b.Read(p); err != nil {
					return
				}
			}
		}, true},
		{"closed unread", remainingBody(0), func(b io.ReadCloser) { b.Close() }, false},
		{"field past the bound once decompressed", `{` + pad + `,"meta":{"imports_remaining":0}}`,
			func(b io.ReadCloser) { io.ReadAll(b) }, false},
		{"number cut by the bound once decompressed", cut, func(b io.ReadCloser) { io.ReadAll(b) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _, _ := newSignalTest(fieldPolicy, reply{ctype: "application/json",
				header: http.Header{"Content-Encoding": {"gzip"}}, body: gz(tc.body)})
			resp := submit(t, tr)
			tc.read(resp.Body)
			resp.Body.Close()
			if got := len(tr.Latched()) == 1; got != tc.want {
				t.Errorf("latched after the caller's read = %v (%q), want %v", got, tr.Latched(), tc.want)
			}
			if got := tr.Remaining(); !tc.want && len(got) != 0 {
				t.Errorf("Remaining() = %v, want empty", got)
			}
		})
	}
}

// hugeJSON streams {"pad":"xxx…","meta":{"imports_remaining":0}} of about
// left bytes without holding it.
type hugeJSON struct {
	left    int
	started bool
	tail    string
}

func (h *hugeJSON) Read(p []byte) (int, error) {
	if !h.started {
		h.started = true
		h.tail = `","meta":{"imports_remaining":0}}`
		return copy(p, `{"pad":"`), nil
	}
	if h.left > 0 {
		n := min(len(p), h.left)
		for i := range n {
			p[i] = 'x'
		}
		h.left -= n
		return n, nil
	}
	if h.tail == "" {
		return 0, io.EOF
	}
	n := copy(p, h.tail)
	h.tail = h.tail[n:]
	return n, nil
}

// Issue 13 item 2: what is not a well-formed integer at the path, or not a
// successful JSON response, is ignored.
func TestRemainingFieldIgnored(t *testing.T) {
	for _, tc := range []struct {
		name string
		rp   reply
	}{
		{"string", jsonReply(`{"meta":{"imports_remaining":"0"}}`)},
		{"fraction", jsonReply(`{"meta":{"imports_remaining":0.5}}`)},
		{"null", jsonReply(`{"meta":{"imports_remaining":null}}`)},
		{"overflow", jsonReply(`{"meta":{"imports_remaining":-99999999999999999999}}`)},
		{"absent", jsonReply(`{"meta":{}}`)},
		{"no meta", jsonReply(`{"job_id":"x"}`)},
		{"meta a list", jsonReply(`{"meta":[0]}`)},
		{"nested elsewhere", jsonReply(`{"data":{"meta":{"imports_remaining":0}}}`)},
		{"top-level list", jsonReply(`[{"meta":{"imports_remaining":0}}]`)},
		{"not JSON", jsonReply(`meta.imports_remaining = 0`)},
		{"broken before", jsonReply(`{"a":[1,}, "meta":{"imports_remaining":0}}`)},
		{"empty", jsonReply(``)},
		{"text/plain", reply{ctype: "text/plain", body: remainingBody(0)}},
		{"no content type", reply{body: remainingBody(0)}},
		{"json-ish", reply{ctype: "application/jsonp", body: remainingBody(0)}},
		{"422", reply{status: 422, ctype: "application/json", body: remainingBody(0)}},
		{"302", reply{status: 302, ctype: "application/json", body: remainingBody(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _, _ := newSignalTest(fieldPolicy, tc.rp)
			resp := submit(t, tr)
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := tr.Latched(); len(got) != 0 {
				t.Errorf("Latched() = %q, want none", got)
			}
			if got := tr.Remaining(); len(got) != 0 {
				t.Errorf("Remaining() = %v, want empty", got)
			}
		})
	}
	// And what is read: other members skipped whatever they hold, media
	// types with parameters or a +json suffix.
	for _, tc := range []struct {
		name string
		rp   reply
		want int64
	}{
		{"members skipped", jsonReply(`{"a":[{"meta":{"imports_remaining":0}}],"b":{"c":[1,{"d":2}]},"meta":{"x":[1,{"y":{}}],"imports_remaining":7}}`), 7},
		{"charset", reply{ctype: "Application/JSON; charset=utf-8", body: remainingBody(3)}, 3},
		{"+json", reply{ctype: "application/vnd.partner+json", body: remainingBody(4)}, 4},
		{"200", reply{status: 200, ctype: "application/json", body: remainingBody(5)}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _, _ := newSignalTest(fieldPolicy, tc.rp)
			resp := submit(t, tr)
			io.ReadAll(resp.Body)
			if got := tr.Remaining(); got[submitKey] != tc.want || len(got) != 1 {
				t.Errorf("Remaining() = %v, want %s: %d", got, submitKey, tc.want)
			}
		})
	}
}

// Issue 13 item 2: the gauge holds the last value per route, tells
// OnRemaining, stays within MaxKeys and is forgotten on Reset.
func TestRemainingGauge(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	p := Policy{RemainingField: "meta.imports_remaining", MaxKeys: 2, OnRemaining: func(key string, n int64) {
		mu.Lock()
		seen = append(seen, fmt.Sprint(key, " ", n))
		mu.Unlock()
	}}
	tr, r, _ := newSignalTest(p, reply{})
	read := func(path string, n int) {
		t.Helper()
		r.set(jsonReply(remainingBody(n)))
		resp, err := tr.RoundTrip(must(http.NewRequest("POST", "https://partner.test"+path, nil)))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	read("/v1/enhancements", 9)
	read("/v1/enhancements", 8)
	read("/v1/exports", 40)
	want := map[string]int64{submitKey: 8, "POST https://partner.test/v1/exports": 40}
	if got := tr.Remaining(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Remaining() = %v, want %v", got, want)
	}
	mu.Lock()
	if want := []string{submitKey + " 9", submitKey + " 8", "POST https://partner.test/v1/exports 40"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("OnRemaining calls = %q, want %q", seen, want)
	}
	mu.Unlock()
	read("/v1/lists", 1) // past MaxKeys: one old value goes
	if got := tr.Remaining(); len(got) != 2 || got["POST https://partner.test/v1/lists"] != 1 {
		t.Errorf("Remaining() past MaxKeys = %v, want 2 values, the newest kept", got)
	}
	got := tr.Remaining()
	got["x"] = 1 // a copy
	if _, ok := tr.Remaining()["x"]; ok {
		t.Error("Remaining() returned the Transport's own map")
	}
	tr.Reset()
	if got := tr.Remaining(); len(got) != 0 {
		t.Errorf("Remaining() after Reset = %v, want empty", got)
	}
	if got := (New(r, Policy{})).Remaining(); len(got) != 0 {
		t.Errorf("Remaining() without signals = %v, want empty", got)
	}
}

// Issue 13 item 2: a probe answered 2xx releases a latch set by a signal
// and forgets the route's count; the probe's own signal counts afresh.
func TestRemainingProbeRelease(t *testing.T) {
	tr, r, clk := newSignalTest(fieldPolicy, jsonReply(remainingBody(0)))
	resp := submit(t, tr)
	io.ReadAll(resp.Body)
	refused(t, tr, "POST", "/v1/enhancements")
	clk.Advance(DefaultCooldown)

	r.set(jsonReply(remainingBody(5))) // credits were bought
	resp = submit(t, tr)               // the probe
	if got := tr.Latched(); len(got) != 0 {
		t.Errorf("Latched() after a 202 probe = %q, want none", got)
	}
	if got := tr.Remaining(); len(got) != 0 {
		t.Errorf("Remaining() after the release, body unread = %v, want empty (the 0 is stale)", got)
	}
	io.ReadAll(resp.Body)
	if got := tr.Remaining(); got[submitKey] != 5 {
		t.Errorf("Remaining() after the probe's body = %v, want 5", got)
	}
	passes(t, tr, "POST", "/v1/enhancements")

	// A probe whose body says 0 releases, then latches again once read.
	r.set(jsonReply(remainingBody(0)))
	resp = submit(t, tr)
	io.ReadAll(resp.Body)
	clk.Advance(DefaultCooldown)
	resp = submit(t, tr) // the probe
	io.ReadAll(resp.Body)
	if ce := refused(t, tr, "POST", "/v1/enhancements"); !ce.Anticipated || !ce.Until.Equal(clk.Now().Add(DefaultCooldown)) {
		t.Errorf("after a probe reporting 0: %+v, want latched anew for a cooldown", ce)
	}

	// A probe whose header says 0 keeps the latch, with a fresh cooldown.
	tr, r, clk = newSignalTest(Policy{RemainingHeader: "X-Credits-Remaining"},
		reply{header: http.Header{"X-Credits-Remaining": {"0"}}})
	submit(t, tr).Body.Close()
	clk.Advance(DefaultCooldown)
	submit(t, tr).Body.Close() // the probe
	if ce := refused(t, tr, "POST", "/v1/enhancements"); !ce.Until.Equal(clk.Now().Add(DefaultCooldown)) {
		t.Errorf("after a probe reporting 0 in a header: %+v, want latched for a fresh cooldown", ce)
	}
	// A 402 sets the cause back.
	clk.Advance(DefaultCooldown)
	r.set(reply{status: 402})
	submit(t, tr).Body.Close()
	if ce := refused(t, tr, "POST", "/v1/enhancements"); ce.Anticipated {
		t.Errorf("after a 402: %+v, want not Anticipated", ce)
	}
}

// Issue 13 item 2, under -race: bodies read and closed concurrently, by
// many callers, some closing while another goroutine reads.
func TestRemainingConcurrent(t *testing.T) {
	var calls atomic.Int64
	p := fieldPolicy
	p.RemainingHeader = "X-Credits-Remaining"
	p.OnRemaining = func(string, int64) { calls.Add(1) }
	left := atomic.Int64{}
	left.Store(200)
	next := rtFunc(func(req *http.Request) (*http.Response, error) {
		n := left.Add(-1)
		body := remainingBody(int(n))
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"},
			"X-Credits-Remaining": {fmt.Sprint(n)}}, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	})
	tr := New(next, p)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				resp, err := tr.RoundTrip(must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil)))
				if err != nil {
					var ce *Error
					if !errors.As(err, &ce) {
						t.Errorf("RoundTrip: %v", err)
					}
					continue
				}
				if (g+i)%2 == 0 {
					go resp.Body.Close() // races the read
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				tr.Remaining()
				tr.Latched()
			}
		}()
	}
	wg.Wait()
	if got := tr.Latched(); len(got) != 1 {
		t.Errorf("Latched() = %q, want the route (the count reached 0)", got)
	}
	if n := left.Load(); n > 0 {
		t.Errorf("the server counted down to %d only", n)
	}
	if calls.Load() == 0 {
		t.Error("OnRemaining never called")
	}
}

// findIntRef is findInt written with encoding/json's Decoder: the
// reference FuzzFindInt holds findInt to.
func findIntRef(data []byte, path []string, complete bool) (int64, bool) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	for i, name := range path {
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return 0, false
		}
		for {
			if !dec.More() {
				return 0, false
			}
			tok, err := dec.Token()
			if err != nil {
				return 0, false
			}
			if tok == name {
				break
			}
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return 0, false
			}
		}
		if i < len(path)-1 {
			continue
		}
		tok, err := dec.Token()
		num, isNum := tok.(json.Number)
		if err != nil || !isNum || !complete && dec.InputOffset() >= int64(len(data)) {
			return 0, false
		}
		n, err := strconv.ParseInt(string(num), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// FuzzFindInt holds the scanner to encoding/json on valid JSON, and to not
// panicking on anything.
func FuzzFindInt(f *testing.F) {
	for _, s := range []string{
		remainingBody(0), remainingBody(-3), `{"meta":{"imports_remaining":9223372036854775807}}`,
		`{"meta":{"imports_remaining":-9223372036854775808}}`, `{"meta":{"imports_remaining":9223372036854775808}}`,
		`{"a":[{"b":"\"}"},1e5,-0.5,true,false,null],"meta":{"x":{},"imports_remaining":07}}`,
		`{"m\u0065ta":{"imports_remaining":1}}`, `{"meta":{"imports_remaining":1.0}}`, `{"meta":{"imports_remaining":-0}}`,
		`{"meta" : { "imports_remaining" : 12 } }`, `{"meta":{"imports_remaining":2,"imports_remaining":3}}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	path := []string{"meta", "imports_remaining"}
	f.Fuzz(func(t *testing.T, data []byte, complete bool) {
		n, ok := findInt(data, path, complete)
		if !json.Valid(data) {
			return
		}
		if rn, rok := findIntRef(data, path, complete); ok != rok || ok && n != rn {
			t.Errorf("findInt(%q, %v) = %d, %v; encoding/json says %d, %v", data, complete, n, ok, rn, rok)
		}
	})
}

// Found by an attack: a number followed by anything but whitespace or the
// end of its value is malformed and ignored, not read as its digits.
func TestFindIntRejectsTrailingGarbage(t *testing.T) {
	path := []string{"meta", "imports_remaining"}
	for _, in := range []string{`{"meta":{"imports_remaining":0x10}}`, `{"meta":{"imports_remaining":0abc}}`,
		`{"meta":{"imports_remaining":0"}}`, `{"meta":{"imports_remaining":0-1}}`, `{"meta":{"imports_remaining":0+}}`,
		`{"meta":{"imports_remaining":1.5}}`, `{"meta":{"imports_remaining":1e3}}`} {
		if n, ok := findInt([]byte(in), path, true); ok {
			t.Errorf("findInt(%s) = %d, true; want ignored", in, n)
		}
	}
	for in, want := range map[string]int64{
		`{"meta":{"imports_remaining":0}}`:        0,
		`{"meta":{"imports_remaining": 7 }}`:      7,
		`{"meta":{"imports_remaining":-2,"x":1}}`: -2,
	} {
		if n, ok := findInt([]byte(in), path, true); !ok || n != want {
			t.Errorf("findInt(%s) = %d, %v; want %d, true", in, n, ok, want)
		}
	}
}
