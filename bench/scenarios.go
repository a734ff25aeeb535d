package bench

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behaviour is what one peer did in the behaviour scenarios.
type Behaviour struct {
	Peer string

	// A 429 with Retry-After: 1, then 200.
	StormAttempts int
	StormElapsed  time.Duration
	StormStatus   int

	// A 429 with Retry-After: 3600, forever: how long until the caller
	// got an answer (capped by a 2s deadline).
	LongHintElapsed  time.Duration
	LongHintAttempts int

	// 50 requests to an upstream that always answers 503.
	DeadHits int

	// One request each answered 400, 402 and 422: requests on the wire.
	ClientErrorHits int

	// A POST with a 1 KiB body answered 500, 500, 200: attempts, whether
	// every attempt carried the same bytes, and the final status.
	PostAttempts     int
	PostBodiesIntact bool
	PostStatus       int

	// 500 requests each answered 500 (4 KiB body) then 200: connections.
	NewConns int
}

const (
	deadRequests  = 50
	connRequests  = 500
	longHintLimit = 2 * time.Second
)

// server is a loopback test server scripted by a handler, counting
// requests and new connections.
type server struct {
	*httptest.Server
	hits  atomic.Int32
	conns atomic.Int32
}

func newServer(h func(n int, w http.ResponseWriter, r *http.Request)) *server {
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.hits.Add(1))
		h(n, w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	return s
}

// Measure runs every behaviour scenario against peer p.
func Measure(p Peer) Behaviour {
	b := Behaviour{Peer: p.Name}
	run := func(h func(n int, w http.ResponseWriter, r *http.Request), f func(d Doer, s *server)) {
		s := newServer(h)
		defer s.Close()
		base := &http.Transport{MaxIdleConnsPerHost: 16}
		defer base.CloseIdleConnections()
		f(p.New(base), s)
	}

	run(func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}, func(d Doer, s *server) {
		req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
		start := time.Now()
		resp, err := ctxDo(d, req, 10*time.Second)
		b.StormElapsed = time.Since(start)
		if err == nil {
			b.StormStatus = resp.StatusCode
		}
		b.StormAttempts = int(s.hits.Load())
	})

	run(func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}, func(d Doer, s *server) {
		req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
		start := time.Now()
		ctxDo(d, req, longHintLimit)
		b.LongHintElapsed = time.Since(start)
		b.LongHintAttempts = int(s.hits.Load())
	})

	run(func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}, func(d Doer, s *server) {
		for range deadRequests {
			req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
			ctxDo(d, req, 5*time.Second)
		}
		b.DeadHits = int(s.hits.Load())
	})

	run(func(n int, w http.ResponseWriter, r *http.Request) {
		code, _ := map[string]int{"/400": 400, "/402": 402, "/422": 422}[r.URL.Path]
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"detail":"status %d"}`, code)
	}, func(d Doer, s *server) {
		for _, path := range []string{"/400", "/402", "/422"} {
			req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(`{}`))
			ctxDo(d, req, 5*time.Second)
		}
		b.ClientErrorHits = int(s.hits.Load())
	})

	payload := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB
	want := sha256.Sum256(payload)
	var mu sync.Mutex
	intact := true
	run(func(n int, w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		mu.Lock()
		intact = intact && sha256.Sum256(got) == want
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}, func(d Doer, s *server) {
		req, _ := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(payload))
		resp, err := ctxDo(d, req, 5*time.Second)
		b.PostAttempts = int(s.hits.Load())
		if err == nil {
			b.PostStatus = resp.StatusCode
		}
		mu.Lock()
		b.PostBodiesIntact = intact
		mu.Unlock()
	})

	run(func(n int, w http.ResponseWriter, r *http.Request) {
		if n%2 == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(bytes.Repeat([]byte("x"), 4096))
			return
		}
		io.WriteString(w, "ok")
	}, func(d Doer, s *server) {
		for range connRequests {
			req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
			ctxDo(d, req, 5*time.Second)
		}
		b.NewConns = int(s.conns.Load())
	})
	return b
}

// BehaviourTable renders behaviours as a markdown table.
func BehaviourTable(rows []Behaviour) string {
	var sb strings.Builder
	sb.WriteString("| peer | 429 + Retry-After: 1 | 429 + Retry-After: 3600 | dead upstream: requests on the wire for 50 calls | 400/402/422: requests on the wire (3 calls) | POST 1 KiB, 500, 500, 200 | new connections, 500 retried 500s |\n")
	sb.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		storm := fmt.Sprintf("%d attempts, %d after %s", r.StormAttempts, r.StormStatus, r.StormElapsed.Round(10*time.Millisecond))
		if r.StormStatus == 200 && r.StormElapsed >= time.Second {
			storm += " (honoured)"
		} else if r.StormStatus == 200 {
			storm += " (too early)"
		}
		long := fmt.Sprintf("answer after %s, %d attempt(s)", r.LongHintElapsed.Round(10*time.Millisecond), r.LongHintAttempts)
		if r.LongHintElapsed >= longHintLimit-50*time.Millisecond {
			long = fmt.Sprintf("still sleeping at the %s deadline", longHintLimit)
		}
		post := fmt.Sprintf("%d attempt(s) → %d", r.PostAttempts, r.PostStatus)
		if r.PostAttempts > 1 {
			post += fmt.Sprintf(", bodies identical: %v", r.PostBodiesIntact)
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %d | %d | %s | %d |\n", r.Peer, storm, long, r.DeadHits, r.ClientErrorHits, post, r.NewConns)
	}
	return sb.String()
}
