package breaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upstream is a test server whose status can be changed, counting the
// requests that reach it.
type upstream struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int32
	gate   chan struct{} // if set, handlers wait on it
}

func newUpstream(t *testing.T, status int) *upstream {
	t.Helper()
	u := &upstream{}
	u.status.Store(int32(status))
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		if u.gate != nil {
			<-u.gate
		}
		code := int(u.status.Load())
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"detail":"status %d"}`, code)
	}))
	t.Cleanup(u.Close)
	return u
}

func get(t *testing.T, rt http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func TestTripsOnConsecutiveFailuresAndFailsFast(t *testing.T) {
	up := newUpstream(t, 500)
	tr := New(up.Client().Transport, Policy{ConsecutiveFailures: 5, OpenTimeout: time.Hour})
	for i := range 5 {
		resp, err := get(t, tr, up.URL)
		if err != nil || resp.StatusCode != 500 {
			t.Fatalf("call %d: %v, %v; want the 500 passed through", i+1, resp, err)
		}
	}
	before := up.hits.Load()
	for range 20 {
		_, err := get(t, tr, up.URL)
		if !errors.Is(err, ErrOpen) || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("error = %v, want ErrOpen and gobreaker.ErrOpenState", err)
		}
		var oe *OpenError
		if !errors.As(err, &oe) || oe.Name != up.URL || oe.State != StateOpen {
			t.Fatalf("error = %#v, want *OpenError named %s", err, up.URL)
		}
		if d := time.Until(oe.Until); d < 59*time.Minute || d > time.Hour {
			t.Errorf("Until in %v, want about 1h", d)
		}
		if r := oe.RetryIn(); r < 59*time.Minute {
			t.Errorf("RetryIn() = %v, want about 1h", r)
		}
	}
	if got := up.hits.Load() - before; got != 0 {
		t.Errorf("%d requests reached the server while open, want 0", got)
	}
	if st := tr.States()[up.URL]; st != StateOpen {
		t.Errorf("States()[%s] = %v, want open", up.URL, st)
	}
}

func TestTripsOnFailureRate(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{MinRequests: 20, FailureRatio: 0.5, ConsecutiveFailures: 100})
	// Alternate success and failure: the rate is near 50% but no run is long.
	for i := range 19 {
		stub.fail.Store(i%2 == 1)
		if _, err := get(t, tr, "http://a.test/"); err != nil {
			t.Fatalf("call %d refused before 20 calls: %v", i+1, err)
		}
	}
	if st := tr.States()["http://a.test"]; st != StateClosed {
		t.Fatalf("state after 19 calls = %v, want closed (below MinRequests)", st)
	}
	stub.fail.Store(true) // 20th call: 10 failures of 20 = 50%
	get(t, tr, "http://a.test/")
	if _, err := get(t, tr, "http://a.test/"); !errors.Is(err, ErrOpen) {
		t.Errorf("after 10 failures in 20 calls: error = %v, want ErrOpen", err)
	}
}

// flip answers 500 or 200 as told; with 4xx it answers 4xx.
type flip struct {
	fail  atomic.Bool
	code  atomic.Int32 // if non-zero, overrides
	calls atomic.Int32
}

func (f *flip) RoundTrip(r *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	code := 200
	if f.fail.Load() {
		code = 500
	}
	if c := f.code.Load(); c != 0 {
		code = int(c)
	}
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"detail":"x"}`)), Request: r}, nil
}

func TestClientErrorsDoNotTrip(t *testing.T) {
	for _, code := range []int{400, 402, 404, 409, 422, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			stub := &flip{}
			stub.code.Store(int32(code))
			tr := New(stub, Policy{ConsecutiveFailures: 3, MinRequests: 3})
			for i := range 50 {
				resp, err := get(t, tr, "http://a.test/")
				if err != nil || resp.StatusCode != code {
					t.Fatalf("call %d: %v, %v; want %d passed through", i+1, resp, err, code)
				}
			}
		})
	}
}

func TestRateLimitedCountedOnlyWhenAsked(t *testing.T) {
	for _, count := range []bool{false, true} {
		stub := &flip{}
		stub.code.Store(429)
		tr := New(stub, Policy{ConsecutiveFailures: 3, CountRateLimited: count})
		var refused bool
		for range 10 {
			if _, err := get(t, tr, "http://a.test/"); errors.Is(err, ErrOpen) {
				refused = true
			}
		}
		if refused != count {
			t.Errorf("CountRateLimited=%v: breaker opened = %v", count, refused)
		}
	}
}

// A 429 not counted as a failure is not a success either: it does not
// break a run of failures (the README: "429 counts as neither").
func TestRateLimitedNotASuccess(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{ConsecutiveFailures: 2})
	for _, code := range []int32{500, 429, 500} {
		stub.code.Store(code)
		if _, err := get(t, tr, "http://a.test/"); err != nil {
			t.Fatalf("%d: error = %v", code, err)
		}
	}
	if st := tr.States()["http://a.test"]; st != StateOpen {
		t.Errorf("state after 500, 429, 500 with ConsecutiveFailures 2 = %v, want open", st)
	}
}

func TestCanceledRequestsNotCounted(t *testing.T) {
	stub := &flip{}
	stub.fail.Store(true)
	tr := New(stub, Policy{ConsecutiveFailures: 3})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 10 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://a.test/", nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled request: error = %v, want context.Canceled from below", err)
		}
	}
	if st := tr.States()["http://a.test"]; st != StateClosed {
		t.Errorf("state after canceled calls = %v, want closed", st)
	}
}

func TestCountedFailureBodyReadable(t *testing.T) {
	up := newUpstream(t, 503)
	tr := New(up.Client().Transport, Policy{})
	req, _ := http.NewRequest(http.MethodGet, up.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != `{"detail":"status 503"}` || resp.StatusCode != 503 {
		t.Errorf("response = %d %q, %v; want the 503 and its body", resp.StatusCode, b, err)
	}
}

func TestHalfOpenProbeOutcome(t *testing.T) {
	up := newUpstream(t, 500)
	var changes []string
	var mu sync.Mutex
	var tr *Transport
	tr = New(up.Client().Transport, Policy{
		ConsecutiveFailures: 2,
		OpenTimeout:         20 * time.Millisecond,
		OnStateChange: func(name string, from, to State) {
			tr.States() // calling back in must not deadlock
			mu.Lock()
			changes = append(changes, from.String()+"→"+to.String())
			mu.Unlock()
		},
	})
	get(t, tr, up.URL)
	get(t, tr, up.URL)
	if _, err := get(t, tr, up.URL); !errors.Is(err, ErrOpen) {
		t.Fatalf("error = %v, want open", err)
	}
	// Probe fails: open again.
	time.Sleep(30 * time.Millisecond)
	if resp, err := get(t, tr, up.URL); err != nil || resp.StatusCode != 500 {
		t.Fatalf("probe: %v, %v; want the 500", resp, err)
	}
	if _, err := get(t, tr, up.URL); !errors.Is(err, ErrOpen) {
		t.Fatalf("after failed probe: error = %v, want open", err)
	}
	// Probe succeeds: closed.
	up.status.Store(200)
	time.Sleep(30 * time.Millisecond)
	for i := range 5 {
		if resp, err := get(t, tr, up.URL); err != nil || resp.StatusCode != 200 {
			t.Fatalf("call %d after recovery: %v, %v", i+1, resp, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := "closed→open,open→half-open,half-open→open,open→half-open,half-open→closed"
	if got := strings.Join(changes, ","); got != want {
		t.Errorf("state changes = %s, want %s", got, want)
	}
}

func TestHalfOpenAdmitsExactlyNProbes(t *testing.T) {
	const probes, callers = 3, 100
	up := newUpstream(t, 500)
	tr := New(up.Client().Transport, Policy{ConsecutiveFailures: 1, OpenTimeout: 10 * time.Millisecond, HalfOpenProbes: probes})
	get(t, tr, up.URL) // trips
	time.Sleep(20 * time.Millisecond)

	up.status.Store(200)
	up.gate = make(chan struct{}) // probes wait at the server until all callers tried
	var wg sync.WaitGroup
	var passed, refused, tooMany atomic.Int32
	before := up.hits.Load()
	start := make(chan struct{})
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := get(t, tr, up.URL)
			switch {
			case err == nil:
				passed.Add(1)
			case errors.Is(err, gobreaker.ErrTooManyRequests):
				tooMany.Add(1)
				refused.Add(1)
			case errors.Is(err, ErrOpen):
				refused.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	close(start)
	for deadline := time.Now().Add(5 * time.Second); passed.Load()+refused.Load() < callers-probes && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(up.gate)
	wg.Wait()
	if got := up.hits.Load() - before; got != probes {
		t.Errorf("%d requests reached the server while half-open, want exactly %d", got, probes)
	}
	if passed.Load() != probes || tooMany.Load() != callers-probes {
		t.Errorf("passed %d, refused as too many %d; want %d and %d", passed.Load(), tooMany.Load(), probes, callers-probes)
	}
	if st := tr.States()[up.URL]; st != StateClosed {
		t.Errorf("state after %d successful probes = %v, want closed", probes, st)
	}
}

func TestPerHostIsolation(t *testing.T) {
	down, healthy := newUpstream(t, 502), newUpstream(t, 200)
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	tr := New(base, Policy{ConsecutiveFailures: 3, OpenTimeout: time.Hour})
	for range 3 {
		get(t, tr, down.URL)
	}
	if _, err := get(t, tr, down.URL+"/other"); !errors.Is(err, ErrOpen) {
		t.Errorf("down host: error = %v, want open for every path", err)
	}
	for range 5 {
		if resp, err := get(t, tr, healthy.URL); err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthy host blocked: %v, %v", resp, err)
		}
	}
	states := tr.States()
	if states[down.URL] != StateOpen || states[healthy.URL] != StateClosed {
		t.Errorf("States() = %v, want %s open and %s closed", states, down.URL, healthy.URL)
	}
}

func TestCustomKeyPerEndpoint(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{
		ConsecutiveFailures: 2,
		Key:                 func(r *http.Request) string { return r.Method + " " + r.URL.Path },
	})
	stub.fail.Store(true)
	get(t, tr, "http://a.test/v1/enhancements")
	get(t, tr, "http://a.test/v1/enhancements")
	if _, err := get(t, tr, "http://a.test/v1/enhancements"); !errors.Is(err, ErrOpen) {
		t.Errorf("failing endpoint: error = %v, want open", err)
	}
	stub.fail.Store(false)
	if _, err := get(t, tr, "http://a.test/v1/jobs/1"); err != nil {
		t.Errorf("other endpoint on the same host: %v, want it to pass", err)
	}
	if st := tr.States()["GET /v1/enhancements"]; st != StateOpen {
		t.Errorf("States() = %v", tr.States())
	}
}

// The default key names a host in any case and with or without its
// scheme's default port: failures to https://API.Example.com:443 open the
// breaker that https://api.example.com requests meet, and States shows one
// breaker. Mutation: keying hosts as written gives three breakers and lets
// the last request through.
func TestDefaultKeyNormalizesHost(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{ConsecutiveFailures: 2})
	stub.fail.Store(true)
	get(t, tr, "https://API.Example.com:443/v1/a")
	get(t, tr, "https://api.example.COM/v1/b")
	stub.fail.Store(false)
	if _, err := get(t, tr, "HTTPS://api.example.com/v1/c"); !errors.Is(err, ErrOpen) {
		t.Errorf("same host, other spelling: error = %v, want the open breaker's", err)
	}
	if st := tr.States(); len(st) != 1 || st["https://api.example.com"] != StateOpen {
		t.Errorf("States() = %v, want one open breaker named https://api.example.com", st)
	}
}

func TestKeysBounded(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{MaxKeys: 50, ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	stub.fail.Store(true)
	get(t, tr, "http://victim.test/") // an open breaker worth keeping
	stub.fail.Store(false)
	for i := range 10_000 {
		get(t, tr, fmt.Sprintf("http://h%d.test/", i))
	}
	if n := int64(tr.registry().breakers.Len()); n > 50 {
		t.Errorf("%d breakers kept, want at most 50", n)
	}
	if st, ok := tr.States()["http://victim.test"]; !ok || st != StateOpen {
		t.Errorf("open breaker evicted by a flood of new hosts (state %v, kept %v)", st, ok)
	}
}

func TestConcurrentUse(t *testing.T) {
	stub := &flip{}
	tr := New(stub, Policy{ConsecutiveFailures: 5, OpenTimeout: 5 * time.Millisecond, MaxKeys: 8})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				stub.fail.Store((g+i)%3 == 0)
				_, err := get(t, tr, fmt.Sprintf("http://h%d.test/", (g+i)%12))
				if err != nil && !errors.Is(err, ErrOpen) {
					t.Errorf("unexpected error: %v", err)
					return
				}
				if i%50 == 0 {
					tr.States()
				}
			}
		}()
	}
	wg.Wait()
	if n := int64(tr.registry().breakers.Len()); n > 8 {
		t.Errorf("%d breakers kept, want at most 8", n)
	}
}

func TestOpenClosesRequestBody(t *testing.T) {
	stub := &flip{}
	stub.fail.Store(true)
	tr := New(stub, Policy{ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	get(t, tr, "http://a.test/")
	body := &closeCounter{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest(http.MethodPost, "http://a.test/", body)
	if _, err := tr.RoundTrip(req); !errors.Is(err, ErrOpen) {
		t.Fatalf("error = %v, want open", err)
	}
	if body.closed.Load() != 1 {
		t.Errorf("request body closed %d times on refusal, want 1", body.closed.Load())
	}
}

type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func TestRefusalsAreErrclassRefusals(t *testing.T) {
	oe := &OpenError{Name: "x", State: StateOpen, Until: time.Now().Add(time.Minute), cause: gobreaker.ErrOpenState}
	out := errclass.Classify(httptest.NewRequest(http.MethodGet, "http://a.test/", nil), nil, oe)
	if !out.Refused || out.Class != errclass.Permanent || out.RetryAfter < 59*time.Second {
		t.Errorf("Classify(OpenError) = %+v, want a refusal with about 1m to wait", out)
	}
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	stub := canned{&http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	tr := New(stub, Policy{})
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	tr.RoundTrip(req) // create the breaker
	if n := testing.AllocsPerRun(100, func() { tr.RoundTrip(req) }); n != 0 {
		t.Errorf("RoundTrip on the success path allocates %v times, want 0", n)
	}
}

type canned struct{ resp *http.Response }

func (c canned) RoundTrip(*http.Request) (*http.Response, error) { return c.resp, nil }
