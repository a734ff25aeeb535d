package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
)

func TestRoutingPrecedence(t *testing.T) {
	patterns := []string{
		"POST /v1/enhancements",
		"/v1/enhancements",
		"GET /v1/jobs/{id}",
		"GET api.example.com/v1/jobs/{id}",
		"GET /v1/jobs/{id}/results",
		"/v1/lists/",
		"DELETE /v1/lists/{id}",
		"/static/{path...}",
	}
	cfg := Config{Endpoints: map[string]Policy{}}
	for _, p := range patterns {
		cfg.Endpoints[p] = Policy{}
	}
	s, err := NewStack(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, url, want string
	}{
		{"POST", "http://x.test/v1/enhancements", "POST /v1/enhancements"},              // method beats no method
		{"GET", "http://x.test/v1/enhancements", "/v1/enhancements"},                    // no method: any method
		{"PUT", "http://x.test/v1/enhancements", "/v1/enhancements"},                    //
		{"GET", "http://api.example.com/v1/jobs/7", "GET api.example.com/v1/jobs/{id}"}, // host beats no host
		{"GET", "http://api.example.com:8443/v1/jobs/7", "GET api.example.com/v1/jobs/{id}"},
		{"GET", "http://other.test/v1/jobs/7", "GET /v1/jobs/{id}"},
		{"HEAD", "http://other.test/v1/jobs/7", "GET /v1/jobs/{id}"}, // GET patterns match HEAD
		{"GET", "http://x.test/v1/jobs/7/results", "GET /v1/jobs/{id}/results"},
		{"POST", "http://x.test/v1/jobs/7", ""},                                // method mismatch: default
		{"DELETE", "http://x.test/v1/lists/abc", "DELETE /v1/lists/{id}"},      // more specific than the subtree
		{"GET", "http://x.test/v1/lists/abc/members", "/v1/lists/"},            // subtree
		{"GET", "http://x.test/static/a/b/c.css", "/static/{path...}"},         // trailing wildcard
		{"GET", "http://x.test/v1/other", ""},                                  // no match: default
		{"GET", "http://x.test/", ""},                                          //
		{"GET", "http://x.test/v1/enhancements?dry_run=1", "/v1/enhancements"}, // query ignored
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, tc.url, nil)
		if got := s.Pattern(req); got != tc.want {
			t.Errorf("%s %s → %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
	// An explicit Host header is what ServeMux matches, as on a server.
	req, _ := http.NewRequest("GET", "http://10.0.0.1/v1/jobs/7", nil)
	req.Host = "api.example.com"
	if got := s.Pattern(req); got != "GET api.example.com/v1/jobs/{id}" {
		t.Errorf("with Host api.example.com → %q", got)
	}
}

func TestBadPatterns(t *testing.T) {
	for _, endpoints := range []map[string]Policy{
		{"GET /v1/{id": {}},
		{"GET /a/{x}": {}, "GET /a/{y}": {}}, // conflict
	} {
		_, err := NewStack(nil, Config{Endpoints: endpoints})
		if ce := (*ConfigError)(nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), "endpoint pattern") {
			t.Errorf("NewStack(%v) error = %v, want a pattern error", endpoints, err)
		}
	}
	// A key without "/" is a route name, which needs a route header.
	if _, err := NewStack(nil, Config{Endpoints: map[string]Policy{"FETCH": {}}}); err == nil || !strings.Contains(err.Error(), "route name") {
		t.Errorf("NewStack(FETCH) error = %v, want a route name error", err)
	}
}

// counter is a server that answers every request with status, counting
// requests per method and path.
type counter struct {
	*httptest.Server
	mu     sync.Mutex
	hits   map[string]int
	status int
}

func newCounter(t *testing.T, status int) *counter {
	c := &counter{hits: map[string]int{}, status: status}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits[r.Method+" "+r.URL.Path]++
		code := c.status
		c.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *counter) count(ep string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[ep]
}

func TestEachPolicyAppliesToItsEndpointOnly(t *testing.T) {
	srv := newCounter(t, 500)
	quick := retry.Policy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	withAttempts := func(n int) retry.Policy { p := quick; p.MaxAttempts = n; return p }
	client, err := NewClient(srv.Client(), Config{
		Default: Policy{Retry: withAttempts(2), NoBreaker: true},
		Endpoints: map[string]Policy{
			"GET /v1/jobs/{id}":     {Retry: withAttempts(5), NoBreaker: true},
			"POST /v1/enhancements": {NoRetry: true, NoBreaker: true},
			"DELETE /v1/lists/{id}": {Retry: quick, NoRetryStatuses: []int{500}, NoBreaker: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{{"GET", "/v1/jobs/1"}, {"POST", "/v1/enhancements"}, {"DELETE", "/v1/lists/9"}, {"GET", "/v1/other"}} {
		req, _ := http.NewRequest(r[0], srv.URL+r[1], strings.NewReader("{}"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for ep, want := range map[string]int{"GET /v1/jobs/1": 5, "POST /v1/enhancements": 1, "DELETE /v1/lists/9": 1, "GET /v1/other": 2} {
		if got := srv.count(ep); got != want {
			t.Errorf("%s reached the server %d times, want %d", ep, got, want)
		}
	}
}

// The first attempt hangs (for 10s, longer than any slow machine takes to
// answer the second); the attempt timeout cuts it, and the retry gets the
// answer. The attempt timeout is generous, so that a loaded machine
// answers the second attempt within it.
func TestAttemptTimeoutRetriedWithinTotalDeadline(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	hangEnded := make(chan bool, 1) // true if the hang was cut, false if it ran out
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			select { // the first attempt hangs
			case <-r.Context().Done():
				hangEnded <- true
			case <-time.After(10 * time.Second):
				hangEnded <- false
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	client, err := NewClient(srv.Client(), Config{Default: Policy{
		AttemptTimeout: 500 * time.Millisecond,
		Retry:          retry.Policy{BaseDelay: time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get() error = %v, want the second attempt's answer", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	n := calls
	mu.Unlock()
	if string(b) != "ok" || n != 2 {
		t.Errorf("got %q after %d attempts, want ok after 2", b, n)
	}
	if cut := <-hangEnded; !cut {
		t.Error("the hanging attempt ran its 10s: the attempt timeout did not cut it")
	}
}

func TestTotalTimeoutBoundsRetries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	client, err := NewClient(srv.Client(), Config{Default: Policy{
		AttemptTimeout: 30 * time.Millisecond,
		Timeout:        100 * time.Millisecond,
		Retry:          retry.Policy{MaxAttempts: 50, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
		NoBreaker:      true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = client.Get(srv.URL)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Get() succeeded against a hanging server")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to wrap context.DeadlineExceeded", err)
	}
	var rerr *retry.Error
	if errors.As(err, &rerr) && rerr.Attempts > 4 {
		t.Errorf("%d attempts within a 100ms total at 30ms each, want at most 4", rerr.Attempts)
	}
	if elapsed > time.Second {
		t.Errorf("took %v, want about the 100ms total timeout", elapsed)
	}
}

func TestAttemptTimeoutDoesNotCutBodyReads(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		for i := 0; i < 5; i++ { // 5 chunks over ~150ms: longer than the attempt timeout
			io.WriteString(w, "chunk;")
			w.(http.Flusher).Flush()
			time.Sleep(30 * time.Millisecond)
		}
	}))
	defer srv.Close()
	client, err := NewClient(srv.Client(), Config{Default: Policy{AttemptTimeout: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != strings.Repeat("chunk;", 5) {
		t.Errorf("body = %q, %v; want all 5 chunks: the attempt timeout must stop at the headers", b, err)
	}
}

func TestAttemptTimeoutErrorIsATimeout(t *testing.T) {
	hang := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	_, err := attemptTimeout(10*time.Millisecond, 0)(hang).RoundTrip(httptest.NewRequest("GET", "http://x.test/", nil))
	if !errors.Is(err, ErrAttemptTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want ErrAttemptTimeout and DeadlineExceeded, not Canceled", err)
	}
}

func TestSharedAndOwnBreakers(t *testing.T) {
	srv := newCounter(t, 503)
	s, err := NewStack(srv.Client().Transport, Config{
		Default: Policy{NoRetry: true, Breaker: breaker.Policy{ConsecutiveFailures: 2, OpenTimeout: time.Hour}},
		Endpoints: map[string]Policy{
			"GET /v1/jobs/{id}":     {NoRetry: true},                                                   // shares the host's breaker
			"POST /v1/enhancements": {NoRetry: true, Breaker: breaker.Policy{ConsecutiveFailures: 50}}, // its own
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string) error {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := s.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	do("GET", "/v1/other")
	do("GET", "/v1/other") // two failures trip the host's shared breaker
	if err := do("GET", "/v1/jobs/1"); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("endpoint sharing the host's breaker: error = %v, want ErrOpen", err)
	}
	if err := do("POST", "/v1/enhancements"); err != nil {
		t.Errorf("endpoint with breakers of its own: error = %v, want the 503 passed", err)
	}
	states := s.States()
	if states[srv.URL] != breaker.StateOpen || states["POST /v1/enhancements "+srv.URL] != breaker.StateClosed {
		t.Errorf("States() = %v", states)
	}
}

func TestNewClientKeepsSettings(t *testing.T) {
	orig := &http.Client{Timeout: 3 * time.Second}
	c, err := NewClient(orig, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c == orig || orig.Transport != nil || c.Timeout != 3*time.Second {
		t.Errorf("NewClient: %+v from %+v", c, orig)
	}
	if _, ok := c.Transport.(*Stack); !ok {
		t.Errorf("client.Transport is %T, want *Stack", c.Transport)
	}
}

// ctxBody fails reads once its request's context is done.
type ctxBody struct {
	ctx context.Context
	r   io.Reader
}

func (b *ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}
func (b *ctxBody) Close() error { return nil }

// Timers are pooled across attempts; one that fired for a hanging attempt
// must never cancel a later attempt that reused its slot, and a fast
// attempt's context must live until its body is done, then be released.
func TestAttemptTimersReusedSafely(t *testing.T) {
	var attemptCtx sync.Map // request id → the attempt's context
	stub := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("Hang") != "" {
			<-r.Context().Done()
			return nil, r.Context().Err()
		}
		attemptCtx.Store(r.Header.Get("Id"), r.Context())
		return &http.Response{StatusCode: 200, Body: &ctxBody{r.Context(), strings.NewReader("ok")}, Request: r}, nil
	})
	short := attemptTimeout(time.Millisecond, 0)(stub)
	long := attemptTimeout(time.Hour, 0)(stub)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				req := httptest.NewRequest("GET", "http://x.test/", nil)
				if i%2 == 0 {
					req.Header.Set("Hang", "1")
					if _, err := short.RoundTrip(req); !errors.Is(err, ErrAttemptTimeout) {
						t.Errorf("hanging attempt: %v, want ErrAttemptTimeout", err)
						return
					}
					continue
				}
				id := strings.Repeat("x", g+1) + string(rune('a'+i%26)) + time.Now().String()
				req.Header.Set("Id", id)
				resp, err := long.RoundTrip(req)
				if err != nil {
					t.Errorf("fast attempt: %v", err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				if err != nil || string(b) != "ok" {
					t.Errorf("fast attempt's body = %q, %v: its context was canceled early", b, err)
					return
				}
				resp.Body.Close()
				ctx, _ := attemptCtx.Load(id)
				if ctx.(context.Context).Err() == nil {
					t.Error("the attempt's context was not released when its body was done")
					return
				}
			}
		})
	}
	wg.Wait()
}

// The route cache must give the mux's answer for every request, whatever
// collides with what, and under concurrent use.
func TestRouteCacheAgreesWithMux(t *testing.T) {
	s, err := NewStack(nil, Config{Endpoints: map[string]Policy{
		"POST /v1/enhancements":            {},
		"GET /v1/jobs/{id}":                {},
		"GET api.example.com/v1/jobs/{id}": {},
		"GET /v1/jobs/{id}/results":        {},
		"DELETE /v1/lists/{id}":            {},
		"/v1/exports/":                     {},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []*http.Request
	for i := range 3 * routeCacheSize {
		method := []string{"GET", "POST", "DELETE", "HEAD"}[i%4]
		host := []string{"api.example.com", "other.test:8080"}[i/4%2]
		path := []string{"/v1/jobs/%d", "/v1/jobs/%d/results", "/v1/lists/%d", "/v1/exports/%d", "/v1/enhancements", "/v1/jobs/a%%2Fb%d"}[i/8%6]
		if strings.Contains(path, "%d") {
			path = fmt.Sprintf(path, i%97)
		}
		req := httptest.NewRequest(method, "http://"+host+path, nil)
		req.Host = ""
		if i%5 == 0 {
			req.Host = "api.example.com" // an explicit Host header wins over the URL's
		}
		reqs = append(reqs, req)
	}
	want := make([]string, len(reqs))
	for i, r := range reqs {
		host := r.Host
		if host == "" {
			host = r.URL.Host
		}
		want[i] = s.match(r, host)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for round := range 3 {
				for i := range reqs {
					j := (i*7 + g*131 + round) % len(reqs)
					if got := s.Pattern(reqs[j]); got != want[j] {
						t.Errorf("Pattern(%s %s, Host %q) = %q, want the mux's %q", reqs[j].Method, reqs[j].URL, reqs[j].Host, got, want[j])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	distinct := map[string]bool{}
	for _, w := range want {
		distinct[w] = true
	}
	if len(distinct) < 5 {
		t.Errorf("the requests reach only %d patterns: the test does not exercise routing", len(distinct))
	}
}

// An entry left in a request's slot by another key (a hash collision) must
// not answer for it: every field is compared.
func TestRouteCacheCollisionsCompareEveryField(t *testing.T) {
	s, err := NewStack(nil, Config{Endpoints: map[string]Policy{
		"GET /v1/jobs/{id}":     {},
		"DELETE /v1/lists/{id}": {},
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://api.test/v1/jobs/a%2Fb", nil)
	req.Host = ""
	want := s.match(req, "api.test")
	if want != "GET /v1/jobs/{id}" {
		t.Fatalf("mux answer = %q", want)
	}
	right := routeEntry{method: "GET", host: "api.test", path: req.URL.Path, rawPath: req.URL.RawPath, pattern: "planted"}
	for name, wrong := range map[string]func(e *routeEntry){
		"method":   func(e *routeEntry) { e.method = "DELETE" },
		"host":     func(e *routeEntry) { e.host = "other.test" },
		"path":     func(e *routeEntry) { e.path = "/v1/jobs/a/c" },
		"raw path": func(e *routeEntry) { e.rawPath = "/v1/jobs/a%2Fc" },
	} {
		e := right
		wrong(&e)
		s.cache.slot("GET", "api.test", req.URL.Path, req.URL.RawPath).Store(&e)
		if got := s.Pattern(req); got != want {
			t.Errorf("entry with another %s answered: %q, want %q", name, got, want)
		}
	}
	e := right
	s.cache.slot("GET", "api.test", req.URL.Path, req.URL.RawPath).Store(&e)
	if got := s.Pattern(req); got != "planted" {
		t.Errorf("the request's own entry was not used: %q", got)
	}
}

func TestEmptyMethodRoutesAsGet(t *testing.T) {
	s, err := NewStack(nil, Config{Endpoints: map[string]Policy{"GET /v1/jobs/{id}": {}}})
	if err != nil {
		t.Fatal(err)
	}
	req := &http.Request{URL: &url.URL{Scheme: "http", Host: "x.test", Path: "/v1/jobs/1"}} // Method "" means GET to a client
	if got := s.Pattern(req); got != "GET /v1/jobs/{id}" {
		t.Errorf("Pattern(method \"\") = %q, want GET /v1/jobs/{id}", got)
	}
}

// When the attempt timer fires and the caller's deadline passes before the
// base transport reports the cut, the error must still say the deadline
// passed (net/http reports the attempt context's cause, our timeout).
func TestAttemptTimeoutAndCallerDeadlineTogether(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	slow := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done() // the attempt timer, first
		<-ctx.Done()         // then the caller's deadline
		return nil, context.Cause(r.Context())
	})
	req := httptest.NewRequestWithContext(ctx, "GET", "http://x.test/", nil)
	_, err := attemptTimeout(time.Millisecond, 0)(slow).RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to match the caller's context.DeadlineExceeded", err)
	}
}
