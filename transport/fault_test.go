package transport_test

// The fault-injection suite: the rows of ../shared/fault-matrix.md that
// concern connections and the caller, against real loopback servers and
// real sockets, through the whole one-call stack.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
)

// quickPolicy retries fast, with no breaker unless a test wants one.
var quickPolicy = transport.Policy{
	Retry:     retry.Policy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
	NoBreaker: true,
}

// faultServer runs fault(n, conn, req) on the raw connection of request n
// (from 1); a nil return means "answer normally with 200 ok".
type faultServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newFaultServer(t *testing.T, fault func(n int, w http.ResponseWriter, r *http.Request) bool) *faultServer {
	t.Helper()
	s := &faultServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.hits.Add(1))
		io.Copy(io.Discard, r.Body)
		if fault != nil && fault(n, w, r) {
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

// hijack takes the raw connection of a request.
func hijack(t *testing.T, w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	return c, rw
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

func newClient(t *testing.T, base *http.Client, p transport.Policy) *http.Client {
	t.Helper()
	c, err := transport.NewClient(base, transport.Config{Default: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func send(c *http.Client, method, url string) (int, string, error) {
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"persons":[]}`))
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Row 1: connect refused — nothing was sent, so every method is retried.
func TestFaultConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	var attempts atomic.Int32
	base := transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})
	c := newClient(t, &http.Client{Transport: base}, quickPolicy)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		attempts.Store(0)
		_, _, err := send(c, method, url)
		var rerr *retry.Error
		if !errors.As(err, &rerr) || rerr.Attempts != 3 || !errors.Is(err, retry.ErrExhausted) || attempts.Load() != 3 {
			t.Errorf("%s to a closed port: %v after %d attempts, want 3 attempts then ErrExhausted", method, err, attempts.Load())
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" {
			t.Errorf("%s: cause %v lost", method, err)
		}
	}
}

// Row 5 (and reset mid-headers): the server may have processed the request,
// so GET is retried and POST is not.
func TestFaultResetMidHeaders(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			srv := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n > 1 {
					return false
				}
				c, rw := hijack(t, w)
				rw.WriteString("HTTP/1.1 200 OK\r\nContent-Le")
				rw.Flush()
				reset(c)
				return true
			})
			c := newClient(t, srv.Client(), quickPolicy)
			code, body, err := send(c, method, srv.URL)
			switch method {
			case http.MethodGet:
				if err != nil || code != 200 || body != "ok" || srv.hits.Load() != 2 {
					t.Errorf("GET: %d %q %v after %d requests, want ok after a retry", code, body, err, srv.hits.Load())
				}
			case http.MethodPost:
				if err == nil || srv.hits.Load() != 1 {
					t.Errorf("POST: %d %v after %d requests, want the error and no retry (no duplicate POST)", code, err, srv.hits.Load())
				}
			}
		})
	}
}

// Row 19: headers arrive, then the body breaks: the response was handed
// over, so nothing is retried and the caller sees the read error.
func TestFaultResetMidBody(t *testing.T) {
	srv := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		c, rw := hijack(t, w)
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 100))
		rw.Flush()
		time.Sleep(10 * time.Millisecond)
		reset(c)
		return true
	})
	c := newClient(t, srv.Client(), quickPolicy)
	code, body, err := send(c, http.MethodGet, srv.URL)
	if code != 200 || err == nil || len(body) > 100 {
		t.Errorf("got %d, %d bytes, %v; want the 200 with a body read error", code, len(body), err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d requests reached the server, want 1: no retry after the response was committed", n)
	}
}

// Row 6: the server closes a keep-alive connection after answering; the
// retry goes out on a fresh connection, for POST too (net/http knows
// nothing was written on the dead one).
func TestFaultIdleConnectionClosedBetweenAttempts(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			srv := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n > 1 {
					return false
				}
				c, rw := hijack(t, w)
				// A complete 500 that claims keep-alive, then the door shuts.
				rw.WriteString("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno")
				rw.Flush()
				c.Close()
				return true
			})
			c := newClient(t, srv.Client(), quickPolicy)
			code, body, err := send(c, method, srv.URL)
			if err != nil || code != 200 || body != "ok" {
				t.Errorf("%s: %d %q %v, want ok from the retry", method, code, body, err)
			}
		})
	}
}

// Row 18: a server that hangs is cut by the attempt timeout; GET is retried,
// POST (which may have been processed) is not.
func TestFaultServerHangs(t *testing.T) {
	srv := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n%2 == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return true
		}
		return false
	})
	p := quickPolicy
	p.AttemptTimeout = 50 * time.Millisecond
	c := newClient(t, srv.Client(), p)
	code, body, err := send(c, http.MethodGet, srv.URL)
	if err != nil || code != 200 || body != "ok" {
		t.Errorf("GET: %d %q %v, want ok from the second attempt", code, body, err)
	}
	_, _, err = send(c, http.MethodPost, srv.URL)
	if !errors.Is(err, transport.ErrAttemptTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("POST: error = %v, want the attempt timeout, not retried", err)
	}
	if n := srv.hits.Load(); n != 3 {
		t.Errorf("%d requests reached the server, want 3 (GET twice, POST once)", n)
	}
}

// Rows 20 and 21: the caller's cancellation ends an attempt, or a wait,
// at once, and is never retried.
func TestFaultCallerCancels(t *testing.T) {
	srv := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
			return true
		}
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	c := newClient(t, srv.Client(), quickPolicy)
	for _, path := range []string{"/hang", "/wait"} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		start := time.Now()
		_, err := c.Do(req)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error = %v, want context.Canceled", path, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: returned %v after the cancel, want at once", path, d)
		}
	}
}

// Row 23: a body that cannot be replayed is sent once, and closed.
func TestFaultNonReplayableBody(t *testing.T) {
	srv := newFaultServer(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	c := newClient(t, srv.Client(), quickPolicy)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"persons":[]}`))
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || srv.hits.Load() != 1 {
		t.Errorf("got %d after %d requests, want the 503 after 1", resp.StatusCode, srv.hits.Load())
	}
}

// Bad input from the caller: clear typed errors, never a panic.
func TestFaultBadCallerInput(t *testing.T) {
	srv := newFaultServer(t, nil)
	c := newClient(t, srv.Client(), quickPolicy)
	stack := c.Transport.(*transport.Stack)

	if _, err := stack.RoundTrip(nil); !errors.Is(err, transport.ErrInvalidRequest) {
		t.Errorf("RoundTrip(nil) = %v, want ErrInvalidRequest", err)
	}
	if _, err := stack.RoundTrip(&http.Request{Method: "GET", Header: http.Header{}}); !errors.Is(err, transport.ErrInvalidRequest) {
		t.Errorf("RoundTrip(no URL) = %v, want ErrInvalidRequest", err)
	}
	// A body already consumed by an earlier call: net/http's own error
	// comes back, not masked by a retry that would resend other bytes.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("abc"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hits := srv.hits.Load()
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "ContentLength=3 with Body length 0") {
		t.Errorf("reusing a consumed body: error = %v, want net/http's ContentLength error", err)
	}
	if srv.hits.Load() != hits {
		t.Error("a request with a consumed body reached the server")
	}
	// Odd policy values fall back to defaults rather than misbehave.
	odd := transport.Policy{
		Retry:   retry.Policy{MaxAttempts: -3, BaseDelay: -time.Second, MaxDelay: -1, MaxElapsed: -1, MaxRetryAfter: -1, Budget: retry.NewBudget(-1, -1, -1)},
		Breaker: breaker.Policy{MinRequests: 0, FailureRatio: -2, MaxKeys: -5, OpenTimeout: -1, CreditCooldown: -1},
	}
	oc := newClient(t, srv.Client(), odd)
	if code, _, err := send(oc, http.MethodGet, srv.URL); err != nil || code != 200 {
		t.Errorf("odd policy: %d %v", code, err)
	}
}

// Load: 10 000 requests from 64 goroutines through one client against a
// flapping server (200, 500, 429 or a reset, and an outage of 503s), checking
// the invariants: every call returns once, attempts within policy, retries
// within the budget, nothing sent while the breaker is open (goroutine
// leaks are goleak's, in TestMain).
func TestFaultLoadAgainstFlappingServer(t *testing.T) {
	const goroutines = 64
	requests := 10_000
	if testing.Short() {
		requests = 2_000
	}
	var seq atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n := seq.Add(1)
		var id int
		fmt.Sscan(r.Header.Get("X-Request-Id"), &id)
		if id >= requests/4 && id < requests/4+requests/10 {
			w.WriteHeader(http.StatusServiceUnavailable) // an outage: the breaker must open
			return
		}
		switch n % 10 {
		case 1, 5:
			w.WriteHeader(http.StatusInternalServerError)
		case 3:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case 7:
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				reset(c)
			}
		default:
			io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()

	// Count attempts at our layer, per request, and watch the breaker.
	var mu sync.Mutex
	attempts := map[string]int{}
	var openSince atomic.Int64 // unix nanos while open, else 0
	var leaks atomic.Int32
	var stack atomic.Pointer[transport.Stack]
	base := &http.Transport{MaxIdleConnsPerHost: goroutines}
	defer base.CloseIdleConnections()
	counting := transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		// A request reaching the network while the breaker is (still) open,
		// well after it opened — not one admitted just before the trip, nor
		// a half-open probe — is a leak. States() moves an open breaker
		// whose timeout has passed to half-open before answering.
		if o := openSince.Load(); o != 0 && time.Since(time.Unix(0, o)) > 75*time.Millisecond {
			if stack.Load().States()[srv.URL] == breaker.StateOpen {
				leaks.Add(1)
			}
		}
		mu.Lock()
		attempts[r.Header.Get("X-Request-Id")]++
		mu.Unlock()
		return base.RoundTrip(r)
	})
	budget := retry.NewBudget(0.2, 10, 10*time.Second)
	client, err := transport.NewClient(&http.Client{Transport: counting}, transport.Config{Default: transport.Policy{
		Retry: retry.Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Budget: budget},
		Breaker: breaker.Policy{ConsecutiveFailures: 25, OpenTimeout: 150 * time.Millisecond,
			OnStateChange: func(_ string, _, to breaker.State) {
				if to == breaker.StateOpen {
					openSince.Store(time.Now().UnixNano())
				} else {
					openSince.Store(0)
				}
			}},
		AttemptTimeout: 5 * time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	stack.Store(client.Transport.(*transport.Stack))

	start := time.Now()
	var returned, ok, refused, failed atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				req.Header.Set("X-Request-Id", fmt.Sprint(i))
				resp, err := client.Do(req)
				returned.Add(1)
				switch {
				case err == nil:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok.Add(1)
				case errors.Is(err, breaker.ErrOpen):
					refused.Add(1)
				default:
					failed.Add(1)
				}
			}
		}()
	}
	for i := range requests {
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // pace: the outage and the recovery both take time
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	if returned.Load() != int64(requests) {
		t.Errorf("%d calls returned for %d requests", returned.Load(), requests)
	}
	total := 0
	for id, n := range attempts {
		total += n
		if n > 3 {
			t.Errorf("request %s made %d attempts, policy allows 3", id, n)
		}
	}
	retries := total - len(attempts)
	limit := int(0.2*float64(requests)) + int(10*(elapsed.Seconds()+10))
	if retries > limit {
		t.Errorf("%d retries for %d requests in %v, budget allows %d", retries, requests, elapsed, limit)
	}
	if refused.Load() == 0 {
		t.Error("the breaker never opened during the outage")
	}
	if leaks.Load() > 0 {
		t.Errorf("%d attempts reached the network while the breaker was open", leaks.Load())
	}
	t.Logf("%d requests in %v: %d answered, %d refused by the breaker, %d failed; %d attempts (%d retries, budget limit %d)",
		requests, elapsed.Round(time.Millisecond), ok.Load(), refused.Load(), failed.Load(), total, retries, limit)
}

// newH2Server starts an HTTP/2 test server (TLS) counting requests and
// connections.
func newH2Server(t *testing.T, idle time.Duration, h func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	var hits, conns, closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("request over HTTP/%d, want HTTP/2", r.ProtoMajor)
		}
		h(int(hits.Add(1)), w, r)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.IdleTimeout = idle
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &hits, &conns, &closed
}

// Row 9: HTTP/2 RST_STREAM INTERNAL_ERROR before the response: the server
// may have processed the request, so GET is retried and POST is not; after
// the headers, the caller gets the read error and nothing is retried.
func TestFaultHTTP2StreamReset(t *testing.T) {
	srv, hits, _, _ := newH2Server(t, 0, func(n int, w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Path == "/mid-body":
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, strings.Repeat("x", 100))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case n == 1 || r.Method == http.MethodPost:
			panic(http.ErrAbortHandler) // RST_STREAM, no response
		}
		io.WriteString(w, "ok")
	})
	c := newClient(t, srv.Client(), quickPolicy)
	if code, body, err := send(c, http.MethodGet, srv.URL); err != nil || code != 200 || body != "ok" || hits.Load() != 2 {
		t.Errorf("GET: %d %q %v after %d requests, want ok from the retry", code, body, err, hits.Load())
	}
	hits.Store(10)
	if _, _, err := send(c, http.MethodPost, srv.URL); err == nil || hits.Load() != 11 {
		t.Errorf("POST: %v after %d requests, want the stream error and no retry", err, hits.Load()-10)
	}
	hits.Store(20)
	code, body, err := send(c, http.MethodGet, srv.URL+"/mid-body")
	if code != 200 || err == nil || len(body) != 100 || hits.Load() != 21 {
		t.Errorf("reset mid-body: %d, %d bytes, %v after %d requests; want the 200, a read error, no retry", code, len(body), err, hits.Load()-20)
	}
}

// Row 7: the server sends GOAWAY (here when its idle timeout closes the
// connection); the next request, a POST with a body, goes out on a new
// connection with its body intact.
func TestFaultHTTP2GoAway(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv, hits, conns, closed := newH2Server(t, 30*time.Millisecond, func(n int, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	c := newClient(t, srv.Client(), quickPolicy)
	for i := range 3 {
		// Before each new request, wait for the server's idle timeout to
		// send GOAWAY and (after its grace period) close the connection.
		for deadline := time.Now().Add(5 * time.Second); closed.Load() < int32(i) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(fmt.Sprintf(`{"batch":%d}`, i)))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %d after GOAWAY: %v", i, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if hits.Load() != 3 || conns.Load() != 3 {
		t.Errorf("%d requests over %d connections, want 3 over 3 (one per GOAWAY)", hits.Load(), conns.Load())
	}
	for i, b := range bodies {
		if b != fmt.Sprintf(`{"batch":%d}`, i) {
			t.Errorf("request %d body = %q", i, b)
		}
	}
}

// Rows 2–4 through the stack: an unknown host is not retried (and does not
// trip the breaker), a connect that hangs is cut by the attempt timeout and
// retried even for POST (nothing was sent), and a TLS failure is not
// retried at all.
func TestFaultDialAndTLS(t *testing.T) {
	var dials atomic.Int32
	// net/http dials on a context of its own (a dial outlives the request
	// that started it), so a blackhole dial ends when the test does.
	blackhole := make(chan struct{})
	t.Cleanup(func() { close(blackhole) })
	dialer := func(fail error, hang bool) *http.Client {
		return &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				if hang {
					select { // a blackhole: SYN never answered
					case <-ctx.Done():
					case <-blackhole:
					}
					return nil, &net.OpError{Op: "dial", Net: network, Err: context.DeadlineExceeded} // as net.Dialer reports it
				}
				return nil, fail
			},
		}}
	}
	p := quickPolicy
	p.NoBreaker = false
	p.Breaker = breaker.Policy{ConsecutiveFailures: 2, OpenTimeout: time.Hour}

	t.Run("NXDOMAIN", func(t *testing.T) {
		dials.Store(0)
		c := newClient(t, dialer(&net.DNSError{Err: "no such host", Name: "api.invalid", IsNotFound: true}, false), p)
		for range 3 {
			_, _, err := send(c, http.MethodGet, "http://api.invalid/v1/jobs/1")
			var dnsErr *net.DNSError
			if !errors.As(err, &dnsErr) || errors.Is(err, breaker.ErrOpen) {
				t.Fatalf("error = %v, want the DNS error, never the breaker's", err)
			}
		}
		if n := dials.Load(); n != 3 {
			t.Errorf("%d dials for 3 calls, want 3: NXDOMAIN is not retried", n)
		}
	})
	t.Run("connect timeout", func(t *testing.T) {
		// Cut by the attempt timeout, a hanging connect is indistinguishable
		// from a hanging response (net/http reports the context's cause):
		// ambiguous, so GET is retried and POST is not.
		dials.Store(0)
		hp := p
		hp.AttemptTimeout = 30 * time.Millisecond
		c := newClient(t, dialer(nil, true), hp)
		_, _, err := send(c, http.MethodGet, "http://10.255.255.1/v1/jobs/1")
		if !errors.Is(err, breaker.ErrOpen) || dials.Load() != 2 {
			t.Errorf("GET to a blackhole: %v after %d dials, want 2 timeouts then the breaker's refusal", err, dials.Load())
		}
	})
	t.Run("dial timeout below the attempt timeout", func(t *testing.T) {
		// With the transport's own dial timeout shorter than the attempt
		// timeout, the failure is a dial error: not sent, so even a POST is
		// retried.
		dials.Store(0)
		hp := p
		hp.AttemptTimeout = time.Second
		hp.Breaker.ConsecutiveFailures = 10
		base := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond) // Dialer.Timeout
			defer cancel()
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}}}
		c := newClient(t, base, hp)
		_, _, err := send(c, http.MethodPost, "http://10.255.255.1/v1/enhancements")
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" || dials.Load() != 3 {
			t.Errorf("POST: %v after %d dials, want 3 dial attempts (nothing was sent)", err, dials.Load())
		}
	})
	t.Run("TLS", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		defer srv.Close()
		c := newClient(t, &http.Client{Transport: &http.Transport{}}, p) // does not trust the test CA
		for range 3 {
			_, _, err := send(c, http.MethodGet, srv.URL)
			var rerr *retry.Error
			if !errors.As(err, &rerr) || rerr.Attempts != 1 || errors.Is(err, breaker.ErrOpen) || !strings.Contains(err.Error(), "tls") {
				t.Fatalf("error = %v, want one attempt, a TLS error, and no breaker refusal", err)
			}
		}
	})
}
