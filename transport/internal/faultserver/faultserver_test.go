package faultserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/internal/faultserver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client returns a client of its own (net/http's hidden retries need a
// reused connection; each test decides whether it has one).
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestStall(t *testing.T) {
	srv := faultserver.New(t, faultserver.Stall(http.StatusServiceUnavailable, 1000, 3))
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
	if !faultserver.Eventually(2*time.Second, func() bool { return srv.Open() == 0 }) {
		t.Errorf("%d connections still open after the client went away", srv.Open())
	}
}

// A stalled handler ends when the test does, even though the client is
// still there: Close must not wait for it forever.
func TestCloseEndsBlockedHandlers(t *testing.T) {
	for name, h := range map[string]http.Handler{
		"Stall":        faultserver.Stall(200, 10, 1),
		"StallHeaders": faultserver.StallHeaders(),
		"Drip":         faultserver.Drip(200, 1000, time.Hour),
		"ResetAfter":   faultserver.ResetAfter("HTTP/1.1 200 OK\r\n", time.Hour),
	} {
		t.Run(name, func(t *testing.T) {
			srv := faultserver.New(t, h)
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
	srv := faultserver.New(t, faultserver.Drip(http.StatusOK, 5, every))
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
	srv := faultserver.New(t, faultserver.StallHeaders())
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
	srv := faultserver.New(t, faultserver.Reset())
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
	srv := faultserver.New(t, faultserver.ResetAfter("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 10*time.Millisecond))
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
	srv := faultserver.New(t, faultserver.Script(
		faultserver.CloseAfter("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno"),
		faultserver.Reply(200, "ok"),
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
			faultserver.Eventually(time.Second, func() bool { return srv.Open() == 0 })
		}
	}
	if srv.Conns() != 2 {
		t.Errorf("%d connections, want 2: the first was closed after its answer", srv.Conns())
	}
	// With nothing written, the client of a fresh connection sees EOF.
	srv2 := faultserver.New(t, faultserver.CloseAfter(""))
	if _, err := client(t).Get(srv2.URL); !errors.Is(err, io.EOF) {
		t.Errorf("error = %v, want EOF", err)
	}
}

func TestScriptAndStatus(t *testing.T) {
	srv := faultserver.New(t, faultserver.Script(
		faultserver.Status(http.StatusInternalServerError),
		faultserver.Status(http.StatusTooManyRequests, "Retry-After", "7"),
		faultserver.Reply(http.StatusOK, "ok"),
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
	srv := faultserver.New(t, faultserver.Reply(200, "ok"))
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
	faultserver.Eventually(time.Second, func() bool { closed += srv.CloseIdle(); return closed == 2 })
	if closed != 2 {
		t.Fatalf("CloseIdle closed %d connections, want 2", closed)
	}
	if !faultserver.Eventually(time.Second, func() bool { return srv.Open() == 0 }) {
		t.Errorf("open = %d after CloseIdle, want 0", srv.Open())
	}
	get(c1) // the client notices the close and dials again
	if srv.Conns() != 3 || srv.Open() != 1 || srv.PeakOpen() != 2 {
		t.Errorf("after the redial: conns %d, open %d, peak %d; want 3, 1, 2", srv.Conns(), srv.Open(), srv.PeakOpen())
	}
}

// HTTP/2 through NewUnstarted: the hijacking faults reset the stream.
func TestHTTP2Reset(t *testing.T) {
	srv := faultserver.NewUnstarted(t, faultserver.Reset())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	_, err := srv.Client().Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Errorf("error = %v, want a stream reset", err)
	}
}

func TestFlappingPlan(t *testing.T) {
	f := faultserver.Flapping(42, 0.3, 0.03)
	counts := map[int]int{}
	const n = 20000
	for i := range n {
		counts[f.Plan(fmt.Sprint(i), 1)]++
	}
	near := func(got int, p float64) bool {
		want := p * n
		return float64(got) > 0.85*want && float64(got) < 1.15*want
	}
	if !near(counts[faultserver.OutcomeReset], 0.03) || !near(counts[500], 0.1) || !near(counts[503], 0.1) ||
		!near(counts[429], 0.1) || !near(counts[200], 0.67) || len(counts) != 5 {
		t.Errorf("outcomes of %d plans: %v, want about 3%% resets, 10%% each of 500/503/429", n, counts)
	}
	// Deterministic per seed, different across seeds and attempts.
	g, other := faultserver.Flapping(42, 0.3, 0.03), faultserver.Flapping(43, 0.3, 0.03)
	same, sameAttempt := 0, 0
	for i := range 1000 {
		id := fmt.Sprint(i)
		if f.Plan(id, 1) != g.Plan(id, 1) {
			t.Fatalf("seed 42 planned %d then %d for %s", f.Plan(id, 1), g.Plan(id, 1), id)
		}
		if f.Plan(id, 1) == other.Plan(id, 1) {
			same++
		}
		if f.Plan(id, 1) == f.Plan(id, 2) {
			sameAttempt++
		}
	}
	// Independent plans agree about 0.67² + 3·0.1² + 0.03² ≈ 48% of the time.
	if same > 600 || sameAttempt > 600 {
		t.Errorf("plans agree across seeds %d/1000, across attempts %d/1000: not independent", same, sameAttempt)
	}
}

// Over a real socket the Flapper answers as planned and logs every request
// of every id, with its method, key and body.
func TestFlappingServes(t *testing.T) {
	f := faultserver.Flapping(7, 0.3, 0.1)
	srv := faultserver.New(t, f)
	c := client(t)
	const ids = 100
	got := map[string][]int{}
	for i := range ids {
		id := fmt.Sprint(i)
		for range 2 {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("body-"+id))
			req.Header.Set(faultserver.IDHeader, id)
			req.Header.Set("Idempotency-Key", "k"+id)
			status := faultserver.OutcomeReset
			// A reset on a reused connection makes net/http send the
			// request again (the key makes it idempotent): the log shows
			// both sends, the client only the last answer.
			resp, err := c.Do(req)
			if err == nil {
				io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			} else if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
				t.Errorf("id %s: %v, want a status or a reset", id, err)
			}
			got[id] = append(got[id], status)
		}
	}
	recs := f.Records()
	if len(recs) != ids {
		t.Fatalf("%d ids logged, want %d", len(recs), ids)
	}
	hidden := 0
	for id, rec := range recs {
		if rec.Method != http.MethodPost || rec.Key != "k"+id || rec.KeyChanged || rec.BodyChanged {
			t.Errorf("id %s: record %+v", id, rec)
		}
		for n, o := range rec.Outcomes {
			if o != f.Plan(id, n+1) {
				t.Errorf("id %s: request %d answered %d, plan says %d", id, n+1, o, f.Plan(id, n+1))
			}
		}
		hidden += rec.Sends() - 2
		if rec.Last() != got[id][1] {
			t.Errorf("id %s: client got %d last, server answered %d last", id, got[id][1], rec.Last())
		}
	}
	if hidden < 0 || hidden > ids/2 {
		t.Errorf("%d sends beyond the client's calls, want a few (net/http's replays after a reset)", hidden)
	}
	if tot := f.Totals(); tot[faultserver.OutcomeReset] == 0 || tot[200] == 0 || tot[429] == 0 {
		t.Errorf("totals %v (%s), want every kind of outcome", tot, f)
	}
	// The log notices a changed key and body.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("other"))
	req.Header.Set(faultserver.IDHeader, "0")
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
	if rec := f.Records()["0"]; !rec.KeyChanged || !rec.BodyChanged {
		t.Errorf("record after a changed key and body: %+v", rec)
	}
}
