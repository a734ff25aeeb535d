package transport_test

// The fault-injection suite: the rows of the fault matrix (fault-matrix.md,
// beside this file) that concern connections and the caller, against real
// loopback servers (package resilienttest, the public test kit) and real sockets, through
// the whole one-call stack. The matrix names the test guarding each row.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/resilient-http/resilient/resilienttest"
	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
)

// replyOK answers 200 "ok".
var replyOK = resilienttest.Reply(http.StatusOK, "ok")

// quickPolicy retries fast, with no breaker unless a test wants one.
var quickPolicy = transport.Policy{
	Retry:     retry.Policy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
	NoBreaker: true,
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

// trackedBodies makes request bodies and counts those not closed.
type trackedBodies struct {
	mu     sync.Mutex
	bodies []*trackedBody
}

type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

func (tb *trackedBodies) new(s string) io.ReadCloser {
	b := &trackedBody{Reader: strings.NewReader(s)}
	tb.mu.Lock()
	tb.bodies = append(tb.bodies, b)
	tb.mu.Unlock()
	return b
}

func (tb *trackedBodies) made() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.bodies)
}

func (tb *trackedBodies) open() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := 0
	for _, b := range tb.bodies {
		if !b.closed.Load() {
			n++
		}
	}
	return n
}

// sendTracked is send with a request body, and GetBody, from bodies.
func sendTracked(c *http.Client, method, url string, bodies *trackedBodies) (int, string, error) {
	const payload = `{"persons":[]}`
	req, _ := http.NewRequest(method, url, bodies.new(payload))
	req.ContentLength = int64(len(payload))
	req.GetBody = func() (io.ReadCloser, error) { return bodies.new(payload), nil }
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
			srv := resilienttest.New(t, resilienttest.Script(
				resilienttest.ResetAfter("HTTP/1.1 200 OK\r\nContent-Le", 0),
				replyOK,
			))
			c := newClient(t, srv.Client(), quickPolicy)
			bodies := &trackedBodies{}
			code, body, err := sendTracked(c, method, srv.URL, bodies)
			if open := bodies.open(); open != 0 {
				t.Errorf("%s: %d of the %d request bodies made were left open", method, open, bodies.made())
			}
			switch method {
			case http.MethodGet:
				if err != nil || code != 200 || body != "ok" || srv.Hits() != 2 {
					t.Errorf("GET: %d %q %v after %d requests, want ok after a retry", code, body, err, srv.Hits())
				}
			case http.MethodPost:
				if err == nil || srv.Hits() != 1 {
					t.Errorf("POST: %d %v after %d requests, want the error and no retry (no duplicate POST)", code, err, srv.Hits())
				}
			}
		})
	}
}

// Row 19: headers arrive, then the body breaks: the response was handed
// over, so nothing is retried and the caller sees the read error.
func TestFaultResetMidBody(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.ResetAfter(
		"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 100), 10*time.Millisecond))
	c := newClient(t, srv.Client(), quickPolicy)
	code, body, err := send(c, http.MethodGet, srv.URL)
	if code != 200 || err == nil || len(body) > 100 {
		t.Errorf("got %d, %d bytes, %v; want the 200 with a body read error", code, len(body), err)
	}
	if n := srv.Hits(); n != 1 {
		t.Errorf("%d requests reached the server, want 1: no retry after the response was committed", n)
	}
}

// Row 6: the server closes a keep-alive connection after answering; the
// retry goes out on a fresh connection, for POST too (net/http knows
// nothing was written on the dead one).
func TestFaultIdleConnectionClosedBetweenAttempts(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			// A complete 500 that claims keep-alive, then the door shuts.
			srv := resilienttest.New(t, resilienttest.Script(
				resilienttest.CloseAfter("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno"),
				replyOK,
			))
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
	// GET: hangs, then ok; POST: hangs.
	srv := resilienttest.New(t, resilienttest.Script(resilienttest.StallHeaders(), replyOK, resilienttest.StallHeaders()))
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
	if n := srv.Hits(); n != 3 {
		t.Errorf("%d requests reached the server, want 3 (GET twice, POST once)", n)
	}
}

// Rows 20 and 21: the caller's cancellation ends an attempt, or a wait,
// at once, and is never retried.
func TestFaultCallerCancels(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/hang", resilienttest.StallHeaders())
	mux.Handle("/wait", resilienttest.Status(http.StatusServiceUnavailable, "Retry-After", "20"))
	srv := resilienttest.New(t, mux)
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
	srv := resilienttest.New(t, resilienttest.Status(http.StatusServiceUnavailable))
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
	if resp.StatusCode != 503 || srv.Hits() != 1 {
		t.Errorf("got %d after %d requests, want the 503 after 1", resp.StatusCode, srv.Hits())
	}
}

// Bad input from the caller: clear typed errors, never a panic.
func TestFaultBadCallerInput(t *testing.T) {
	srv := resilienttest.New(t, replyOK)
	c := newClient(t, srv.Client(), quickPolicy)
	stack := c.Transport.(*transport.Stack)

	if _, err := stack.RoundTrip(nil); !errors.Is(err, transport.ErrInvalidRequest) {
		t.Errorf("RoundTrip(nil) = %v, want ErrInvalidRequest", err)
	}
	if _, err := stack.RoundTrip(&http.Request{Method: "GET", Header: http.Header{}}); !errors.Is(err, transport.ErrInvalidRequest) {
		t.Errorf("RoundTrip(no URL) = %v, want ErrInvalidRequest", err)
	}
	// A body already consumed by an earlier call: net/http's own error
	// comes back after one attempt, not masked by a retry that would
	// resend other bytes. (net/http reports its ContentLength error, or,
	// when its connection's reader sees the connection it gave up on
	// close first, that: either way the write failed.)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("abc"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hits := srv.Hits()
	_, err = c.Do(req)
	var re *retry.Error
	if err == nil || errors.As(err, &re) && re.Attempts != 1 ||
		!strings.Contains(err.Error(), "ContentLength=3 with Body length 0") && !strings.Contains(err.Error(), "use of closed network connection") {
		t.Errorf("reusing a consumed body: error = %v, want net/http's error after one attempt", err)
	}
	if srv.Hits() != hits {
		t.Error("a request with a consumed body reached the server")
	}
	// Odd policy values fall back to defaults rather than misbehave.
	odd := transport.Policy{
		Retry:   retry.Policy{MaxAttempts: -3, BaseDelay: -time.Second, MaxDelay: -1, MaxElapsed: -1, MaxRetryAfter: -1, SharedBudget: retry.NewBudget(-1, -1, -1)},
		Breaker: breaker.Policy{MinRequests: 0, FailureRatio: -2, MaxKeys: -5, OpenTimeout: -1},
	}
	oc := newClient(t, srv.Client(), odd)
	if code, _, err := send(oc, http.MethodGet, srv.URL); err != nil || code != 200 {
		t.Errorf("odd policy: %d %v", code, err)
	}
}

// newH2Server starts an HTTP/2 test server (TLS) running h; idle is the
// server's idle timeout (0: none).
func newH2Server(t *testing.T, idle time.Duration, h http.Handler) *resilienttest.Server {
	t.Helper()
	srv := resilienttest.NewUnstarted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("request over HTTP/%d, want HTTP/2", r.ProtoMajor)
		}
		h.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.Config.IdleTimeout = idle
	srv.StartTLS()
	return srv
}

// Row 9: HTTP/2 RST_STREAM INTERNAL_ERROR before the response: the server
// may have processed the request, so GET is retried and POST is not; after
// the headers, the caller gets the read error and nothing is retried.
func TestFaultHTTP2StreamReset(t *testing.T) {
	getScript := resilienttest.Script(resilienttest.Reset(), replyOK) // over HTTP/2, Reset is RST_STREAM
	srv := newH2Server(t, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/mid-body":
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, strings.Repeat("x", 100))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case r.Method == http.MethodPost:
			resilienttest.Reset().ServeHTTP(w, r) // RST_STREAM, no response
		default:
			getScript.ServeHTTP(w, r)
		}
	}))
	c := newClient(t, srv.Client(), quickPolicy)
	if code, body, err := send(c, http.MethodGet, srv.URL); err != nil || code != 200 || body != "ok" || srv.Hits() != 2 {
		t.Errorf("GET: %d %q %v after %d requests, want ok from the retry", code, body, err, srv.Hits())
	}
	hits := srv.Hits()
	if _, _, err := send(c, http.MethodPost, srv.URL); err == nil || srv.Hits() != hits+1 {
		t.Errorf("POST: %v after %d requests, want the stream error and no retry", err, srv.Hits()-hits)
	}
	hits = srv.Hits()
	code, body, err := send(c, http.MethodGet, srv.URL+"/mid-body")
	if code != 200 || err == nil || len(body) != 100 || srv.Hits() != hits+1 {
		t.Errorf("reset mid-body: %d, %d bytes, %v after %d requests; want the 200, a read error, no retry", code, len(body), err, srv.Hits()-hits)
	}
}

// Row 7: the server sends GOAWAY (here when its idle timeout closes the
// connection); the next request, a POST with a body, goes out on a new
// connection with its body intact.
func TestFaultHTTP2GoAway(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := newH2Server(t, 30*time.Millisecond, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	c := newClient(t, srv.Client(), quickPolicy)
	for i := range 3 {
		// Before each new request, wait for the server's idle timeout to
		// send GOAWAY and (after its grace period) close the connection.
		resilienttest.Eventually(5*time.Second, func() bool { return srv.Conns()-srv.Open() >= i })
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(fmt.Sprintf(`{"batch":%d}`, i)))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %d after GOAWAY: %v", i, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if srv.Hits() != 3 || srv.Conns() != 3 {
		t.Errorf("%d requests over %d connections, want 3 over 3 (one per GOAWAY)", srv.Hits(), srv.Conns())
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
		_, _, err := send(c, http.MethodGet, "http://blackhole.test/v1/jobs/1")
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
		_, _, err := send(c, http.MethodPost, "http://blackhole.test/v1/enhancements")
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" || dials.Load() != 3 {
			t.Errorf("POST: %v after %d dials, want 3 dial attempts (nothing was sent)", err, dials.Load())
		}
	})
	t.Run("TLS", func(t *testing.T) {
		srv := resilienttest.NewUnstarted(t, replyOK)
		srv.StartTLS()
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

// The stack under the public kit's injected faults, against the partner
// contract: GETs of results ride out injected 503s (Retry-After: 0) and
// resets, one retry per fault; a submit whose answer was lost to a reset
// is not sent again (delivery ambiguous, no Idempotency-Key).
func TestFaultInjectedThroughStack(t *testing.T) {
	api := resilienttest.NewPartnerServer(t)
	faults := resilienttest.Inject(api.Client().Transport, resilienttest.Faults{
		Seed:   7,
		Reset:  resilienttest.RateFault{Rate: 0.1},
		Status: resilienttest.StatusFault{Rate: 0.2, Code: http.StatusServiceUnavailable, RetryAfter: "0"},
	})
	p := quickPolicy
	p.Retry.MaxAttempts = 10
	c := newClient(t, &http.Client{Transport: faults}, p)

	if code, _, err := send(c, http.MethodPost, api.URL+"/v1/enhancements"); err != nil || code != http.StatusAccepted {
		// Seed 7 lets the first submit through; a change of seed or of
		// the draws per request shows here first.
		t.Fatalf("submit: %d, %v; want 202", code, err)
	}
	const gets = 200
	for i := range gets {
		code, _, err := send(c, http.MethodGet, api.URL+"/v1/jobs/job_1/results")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %d: %d, %v; want 200 after retries", i, code, err)
		}
	}
	n := faults.Counts()
	// Resets reached the server (the answer was lost after); statuses did not.
	if sent := int(n.Requests - n.Statuses); api.Server.Hits() != sent {
		t.Errorf("server saw %d requests, the injector sent %d", api.Server.Hits(), sent)
	}
	if retried := n.Requests - 1 - gets; retried != n.Statuses+n.Resets {
		t.Errorf("%d retries for %d injected statuses and %d resets: each fault costs one retry", retried, n.Statuses, n.Resets)
	}
	if n.Resets == 0 || n.Statuses == 0 {
		t.Fatalf("counts %+v: seed 7 injected no reset or no status", n)
	}

	// A submit whose answer is lost to a reset is not sent again.
	lossy := resilienttest.Inject(api.Client().Transport, resilienttest.Faults{Reset: resilienttest.RateFault{Rate: 1}})
	c = newClient(t, &http.Client{Transport: lossy}, p)
	before := api.Hits(resilienttest.RouteEnhancements)
	if _, _, err := send(c, http.MethodPost, api.URL+"/v1/enhancements"); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("submit under resets: %v, want the reset", err)
	}
	if got := api.Hits(resilienttest.RouteEnhancements) - before; got != 1 {
		t.Errorf("submit sent %d times under resets, want once (delivery ambiguous)", got)
	}
}

// Row 32: a URL carrying secrets (credentials, query values) fails
// repeatedly. The errors the stack returns name no part of the URL that
// could hold one: not the dial failure after the retries, nor the open
// breaker's refusal that follows, nor a give-up on a 503. (http.Client
// wraps them in a *url.Error naming the URL with its query: net/http's
// doing, outside the transport.)
func TestFaultSecretURLNotInErrors(t *testing.T) {
	const secret = "s3cr3t-T0KEN"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://user:" + secret + "@" + ln.Addr().String() + "/v1/x?api_key=" + secret + "&" + secret
	ln.Close()
	busy := resilienttest.New(t, resilienttest.Status(http.StatusServiceUnavailable))
	p := transport.Policy{
		Retry:   retry.Policy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
		Breaker: breaker.Policy{ConsecutiveFailures: 3, OpenTimeout: time.Hour},
	}
	s, err := transport.NewStack(http.DefaultTransport, transport.Config{Default: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.CloseIdleConnections)
	for i, target := range []string{closed, closed, busy.URL + "/v1/x?api_key=" + secret} {
		req := mustRequest(t, target)
		resp, err := s.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		if err == nil && i < 2 {
			t.Fatalf("request %d to a closed port succeeded", i+1)
		}
		if open := new(*breaker.OpenError); i == 1 && !errors.As(err, open) {
			t.Errorf("request 2: %v, want the open breaker's refusal", err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("request %d: error text carries the URL's secret: %v", i+1, err)
		}
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
