package transport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestStackIdempotencyKey guards issue 16 item 1 through a whole stack
// built from a policy file: a POST that meets a 500 is retried under
// require_idempotency_key because the stack gave it a key, the same key
// on both attempts (the layer sits above retry); the caller's request
// gets no header; a caller's key is kept; GETs get none; an endpoint that
// turns the key off sends its POST once.
func TestStackIdempotencyKey(t *testing.T) {
	type hit struct{ method, path, key string }
	var (
		mu   sync.Mutex
		hits []hit
		fail = map[string]int{} // path → 500s still to answer
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		hits = append(hits, hit{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key")})
		if fail[r.URL.Path] > 0 {
			fail[r.URL.Path]--
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	cfg, err := ParseConfig([]byte(`{
		"default": {"idempotency_key": true, "retry": {"require_idempotency_key": true, "base_delay": "1ms", "max_delay": "1ms"}},
		"endpoints": {"POST /v1/once": {"idempotency_key": false}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(srv.Client(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()

	// send sends one request after scripting failures 500s for its path,
	// and returns its status and the hits it made.
	send := func(t *testing.T, method, path, callerKey string, failures int) (int, []hit) {
		t.Helper()
		mu.Lock()
		hits, fail[path] = nil, failures
		mu.Unlock()
		var body io.Reader
		if method != http.MethodGet {
			body = strings.NewReader(`{"n": 1}`)
		}
		req, err := http.NewRequest(method, srv.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if callerKey != "" {
			req.Header.Set("Idempotency-Key", callerKey)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := req.Header.Get("Idempotency-Key"); got != callerKey || len(req.Header) > min(len(callerKey), 1) {
			t.Errorf("%s %s: caller's header = %v after Do, want it as it was (key %q)", method, path, req.Header, callerKey)
		}
		mu.Lock()
		defer mu.Unlock()
		return resp.StatusCode, hits
	}

	t.Run("POST retried with one key", func(t *testing.T) {
		var keys []string
		for range 2 {
			status, hits := send(t, http.MethodPost, "/v1/jobs", "", 1)
			if status != 200 || len(hits) != 2 {
				t.Fatalf("status %d after %d hits, want 200 after 2 (500, then 200)", status, len(hits))
			}
			if hits[0].key == "" || hits[1].key != hits[0].key {
				t.Errorf("keys of the two attempts = %q, %q; want one key on both", hits[0].key, hits[1].key)
			}
			keys = append(keys, hits[0].key)
		}
		if keys[0] == keys[1] {
			t.Errorf("two requests share key %q, want a key each", keys[0])
		}
		if len(keys[0]) != 36 || keys[0][14] != '7' {
			t.Errorf("key %q, want a UUIDv7", keys[0])
		}
	})
	t.Run("caller's key kept", func(t *testing.T) {
		status, hits := send(t, http.MethodPatch, "/v1/jobs", "mine", 1)
		if status != 200 || len(hits) != 2 || hits[0].key != "mine" || hits[1].key != "mine" {
			t.Errorf("status %d, hits %v; want 200 after 2 hits keyed %q", status, hits, "mine")
		}
	})
	t.Run("GET gets no key", func(t *testing.T) {
		status, hits := send(t, http.MethodGet, "/v1/jobs", "", 1)
		if status != 200 || len(hits) != 2 || hits[0].key != "" || hits[1].key != "" {
			t.Errorf("status %d, hits %v; want 200 after 2 hits without a key", status, hits)
		}
	})
	t.Run("endpoint without keys", func(t *testing.T) {
		status, hits := send(t, http.MethodPost, "/v1/once", "", 1)
		if status != 500 || len(hits) != 1 || hits[0].key != "" {
			t.Errorf("status %d, hits %v; want the 500 after 1 hit without a key", status, hits)
		}
	})
}

// TestStackIdempotencyKeyFree guards the cost of the key layer where it
// has nothing to do: with it on, a GET, and a POST that has its own key,
// still cost the stack's success path nothing.
func TestStackIdempotencyKeyFree(t *testing.T) {
	s, err := NewStack(okStub{}, Config{Default: noTimeouts(Policy{IdempotencyKey: true})})
	if err != nil {
		t.Fatal(err)
	}
	get, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/v1/jobs/1", nil)
	keyed, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/v1/jobs", nil)
	keyed.Header.Set("Idempotency-Key", "k")
	for _, req := range []*http.Request{get, keyed} {
		if n := testing.AllocsPerRun(200, func() { s.RoundTrip(req) }); n != 0 {
			t.Errorf("%s with a key of its own: %v allocations per request, want 0", req.Method, n)
		}
	}
}

// BenchmarkStackIdempotencyKey measures the key layer in the stack (no
// timeouts, no-op tracing) over a stub: the delta of "on/POST" to
// "off/POST" is the cost of minting and sending a key.
func BenchmarkStackIdempotencyKey(b *testing.B) {
	for _, on := range []bool{false, true} {
		s, err := NewStack(okStub{}, Config{Default: noTimeouts(Policy{IdempotencyKey: on})})
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range []string{http.MethodPost, http.MethodGet} {
			name := "off/" + m
			if on {
				name = "on/" + m
			}
			req, _ := http.NewRequest(m, "http://127.0.0.1/v1/jobs", nil)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer x")
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s.RoundTrip(req)
				}
			})
		}
	}
}
