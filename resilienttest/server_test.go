package resilienttest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resilient-http/resilient/resilienttest"
)

// client returns a client of its own (net/http's hidden retries need a
// reused connection; each test decides whether it has one).
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestStall(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.Stall(http.StatusServiceUnavailable, 1000, 3))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 503 || resp.ContentLength != 1000 {
		t.Fatalf("got %d with Content-Length %d, want 503 with 1000", resp.StatusCode, resp.ContentLength)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, got); err != nil || string(got) != "xxx" {
		t.Fatalf("first bytes %q, %v; want the 3 sent", got, err)
	}
	// Nothing more comes: a read is still pending 30ms later.
	read := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 1))
		read <- err
	}()
	select {
	case err := <-read:
		t.Fatalf("read past the stall returned %v, want it to block", err)
	case <-time.After(30 * time.Millisecond):
	}
	cancel()
	if err := <-read; err == nil {
		t.Error("read after the client gave up succeeded")
	}
	// The client went away: the handler ends and the connection closes.
	if !resilienttest.Eventually(2*time.Second, func() bool { return srv.Open() == 0 }) {
		t.Errorf("%d connections still open after the client went away", srv.Open())
	}
}

// A stalled handler ends when the test does, even though the client is
// still there: Close must not wait for it forever.
func TestCloseEndsBlockedHandlers(t *testing.T) {
	for name, h := range map[string]http.Handler{
		"Stall":        resilienttest.Stall(200, 10, 1),
		"StallHeaders": resilienttest.StallHeaders(),
		"Drip":         resilienttest.Drip(200, 1000, time.Hour),
		"ResetAfter":   resilienttest.ResetAfter("HTTP/1.1 200 OK\r\n", time.Hour),
	} {
		t.Run(name, func(t *testing.T) {
			srv := resilienttest.New(t, h)
			started := make(chan struct{})
			go func() {
				defer close(started)
				for srv.Hits() == 0 {
					time.Sleep(time.Millisecond)
				}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				resp, err := client(t).Do(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				errc <- err
			}()
			<-started
			closed := make(chan struct{})
			go func() { defer close(closed); srv.Close() }()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Error("Close still waits for the handler 5s after the test ended")
				cancel() // the client leaves, which ends the handler
				<-closed
			}
			select {
			case <-srv.Done():
			default:
				t.Error("Done not closed by Close")
			}
			select { // the client's call ends too (with whatever error)
			case <-errc:
			case <-time.After(5 * time.Second):
				t.Error("the client's call still blocked 5s after Close")
				cancel()
				<-errc
			}
		})
	}
}

func TestDrip(t *testing.T) {
	const every = 10 * time.Millisecond
	srv := resilienttest.New(t, resilienttest.Drip(http.StatusOK, 5, every))
	start := time.Now()
	resp, err := client(t).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Each byte arrives on its own, about every interval.
	var arrivals []time.Duration
	buf := make([]byte, 10)
	for total := 0; total < 5; {
		n, err := resp.Body.Read(buf)
		if n > 1 {
			t.Errorf("read %d bytes at once, want one at a time", n)
		}
		total += n
		arrivals = append(arrivals, time.Since(start))
		if err != nil && total < 5 {
			t.Fatalf("after %d bytes: %v", total, err)
		}
	}
	if last := arrivals[len(arrivals)-1]; last < 5*every {
		t.Errorf("5 bytes in %v, want at least %v", last, 5*every)
	}
}

func TestStallHeaders(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.StallHeaders())
	c := client(t)
	c.Timeout = 30 * time.Millisecond
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("payload"))
	_, err := c.Do(req)
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("error = %v, want the client's timeout", err)
	}
	if srv.Hits() != 1 {
		t.Errorf("%d requests reached the server, want 1", srv.Hits())
	}
}

func TestReset(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.Reset())
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("payload"))
	_, err := client(t).Do(req)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("error = %v, want a connection reset (RST), not a clean close", err)
	}
	if srv.Hits() != 1 {
		t.Errorf("%d requests reached the server, want 1 (a fresh connection is not retried)", srv.Hits())
	}
}

func TestResetAfter(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.ResetAfter("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 10*time.Millisecond))
	resp, err := client(t).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "abc" || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("got %d, body %q, %v; want 200, \"abc\", then a reset", resp.StatusCode, b, err)
	}
}

// CloseAfter with a complete keep-alive response: the client gets the
// answer, and its next request needs a new connection.
func TestCloseAfter(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.Script(
		resilienttest.CloseAfter("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno"),
		resilienttest.Reply(200, "ok"),
	))
	c := client(t)
	for i, want := range []string{"no", "ok"} {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("request %d: body %q, want %q", i+1, b, want)
		}
		if i == 0 {
			// Let the client's pool see the FIN, as it would between requests.
			resilienttest.Eventually(time.Second, func() bool { return srv.Open() == 0 })
		}
	}
	if srv.Conns() != 2 {
		t.Errorf("%d connections, want 2: the first was closed after its answer", srv.Conns())
	}
	// With nothing written, the client of a fresh connection sees EOF.
	srv2 := resilienttest.New(t, resilienttest.CloseAfter(""))
	if _, err := client(t).Get(srv2.URL); !errors.Is(err, io.EOF) {
		t.Errorf("error = %v, want EOF", err)
	}
}

func TestScriptAndStatus(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.Script(
		resilienttest.Status(http.StatusInternalServerError),
		resilienttest.Status(http.StatusTooManyRequests, "Retry-After", "7"),
		resilienttest.Reply(http.StatusOK, "ok"),
	))
	c := client(t)
	for i, want := range []int{500, 429, 200, 200} {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("request %d: status %d, want %d", i+1, resp.StatusCode, want)
		}
		if want == 200 {
			if string(b) != "ok" {
				t.Errorf("request %d: body %q, want ok", i+1, b)
			}
			continue
		}
		var e struct{ Detail string }
		if err := json.Unmarshal(b, &e); err != nil || e.Detail != http.StatusText(want) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: body %q (%v), want {\"detail\": %q} as JSON", i+1, b, err, http.StatusText(want))
		}
		if ra := resp.Header.Get("Retry-After"); (want == 429) != (ra == "7") {
			t.Errorf("request %d: Retry-After %q", i+1, ra)
		}
	}
}

func TestCounters(t *testing.T) {
	srv := resilienttest.New(t, resilienttest.Reply(200, "ok"))
	c1, c2 := client(t), client(t)
	get := func(c *http.Client) {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	get(c1)
	get(c1)
	if srv.Hits() != 2 || srv.Conns() != 1 || srv.Open() != 1 {
		t.Errorf("keep-alive: hits %d, conns %d, open %d; want 2, 1, 1", srv.Hits(), srv.Conns(), srv.Open())
	}
	get(c2) // a second client, a second connection, both idle now
	if srv.Conns() != 2 || srv.Open() != 2 || srv.PeakOpen() != 2 {
		t.Errorf("two clients: conns %d, open %d, peak %d; want 2, 2, 2", srv.Conns(), srv.Open(), srv.PeakOpen())
	}
	closed := 0
	resilienttest.Eventually(time.Second, func() bool { closed += srv.CloseIdle(); return closed == 2 })
	if closed != 2 {
		t.Fatalf("CloseIdle closed %d connections, want 2", closed)
	}
	if !resilienttest.Eventually(time.Second, func() bool { return srv.Open() == 0 }) {
		t.Errorf("open = %d after CloseIdle, want 0", srv.Open())
	}
	get(c1) // the client notices the close and dials again
	if srv.Conns() != 3 || srv.Open() != 1 || srv.PeakOpen() != 2 {
		t.Errorf("after the redial: conns %d, open %d, peak %d; want 3, 1, 2", srv.Conns(), srv.Open(), srv.PeakOpen())
	}
}

// HTTP/2 through NewUnstarted: the hijacking faults reset the stream.
func TestHTTP2Reset(t *testing.T) {
	srv := resilienttest.NewUnstarted(t, resilienttest.Reset())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	_, err := srv.Client().Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Errorf("error = %v, want a stream reset", err)
	}
}
