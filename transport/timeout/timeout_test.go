package timeout

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// silentServer accepts requests and never answers until the client goes.
func silentServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHeadersBoundCutsSilentServer(t *testing.T) {
	srv := silentServer(t)
	mine := errors.New("mine: attempt timed out")
	tests := []struct {
		name     string
		sentinel error
		prefix   string
	}{
		{"unnamed", nil, "timeout: response headers timed out after 20ms"},
		{"named", mine, "mine: attempt timed out after 20ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(srv.Client().Transport, Policy{Headers: 20 * time.Millisecond, HeadersErr: tc.sentinel})
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
				t.Fatalf("RoundTrip() = %v, want no response", resp.Status)
			}
			if !errors.Is(err, ErrHeaders) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				t.Errorf("RoundTrip() error = %v, want ErrHeaders and DeadlineExceeded, not Canceled", err)
			}
			if errors.Is(err, ErrBodyIdle) {
				t.Errorf("RoundTrip() error = %v matches ErrBodyIdle", err)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("RoundTrip() error = %v, want it to match the policy's sentinel", err)
			}
			var te *Error
			if !errors.As(err, &te) || te.After != 20*time.Millisecond || te.Bound != ErrHeaders || !te.Timeout() {
				t.Fatalf("RoundTrip() error = %#v, want *Error{Bound: ErrHeaders, After: 20ms}", err)
			}
			// The idiom of callers who check for timeouts the net way.
			// Mutation caught: Error without Temporary is no net.Error.
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("errors.As(%v, net.Error) with Timeout() = false, want a net.Error timeout", err)
			}
			if !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Errorf("Error() = %q, want prefix %q", err, tc.prefix)
			}
		})
	}
}

// A caller who cancels as the bound fires hears its own reason, wrapping
// the cut the layer below reported.
func TestCallerCancelWinsOverCut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hang := rtFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done() // the bound fired
		cancel()             // and the caller gave up meanwhile
		return nil, context.Cause(r.Context())
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://x.test/", nil)
	_, err := New(hang, Policy{Headers: 5 * time.Millisecond}).RoundTrip(req)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrHeaders) {
		t.Fatalf("RoundTrip() error = %v, want the caller's Canceled wrapping ErrHeaders", err)
	}
}

func TestHeadersBoundDoesNotCutBody(t *testing.T) {
	tail := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "head-")
		w.(http.Flusher).Flush()
		<-tail
		io.WriteString(w, "tail")
	}))
	defer srv.Close()
	// The bound leaves room for a loaded machine to dial and answer; the
	// tail comes well after it has passed.
	const bound = 100 * time.Millisecond
	for _, report := range []bool{false, true} {
		tr := New(srv.Client().Transport, Policy{Headers: bound, ReportDeadline: report})
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("ReportDeadline=%v: RoundTrip() error = %v", report, err)
		}
		time.AfterFunc(bound*3/2, func() { tail <- struct{}{} })
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "head-tail" {
			t.Errorf("ReportDeadline=%v: body = %q, %v; want head-tail, nil", report, b, err)
		}
		tr.CloseIdleConnections()
	}
}

func TestBodyIdleCutsStalledBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	mine := errors.New("mine: body idle")
	for _, sentinel := range []error{nil, mine} {
		tr := New(srv.Client().Transport, Policy{BodyIdle: 20 * time.Millisecond, BodyIdleErr: sentinel})
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip() error = %v", err)
		}
		start := time.Now()
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "part" {
			t.Errorf("body = %q, want part", b)
		}
		if !errors.Is(err, ErrBodyIdle) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrHeaders) {
			t.Errorf("read error = %v, want ErrBodyIdle and DeadlineExceeded", err)
		}
		if sentinel != nil && !errors.Is(err, sentinel) {
			t.Errorf("read error = %v, want it to match the policy's sentinel", err)
		}
		if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read error = %v, want a net.Error timeout", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("cut after %v, want about 20ms", d)
		}
		tr.CloseIdleConnections()
	}
}

// chunks is a body that has every byte ready: only the caller is slow.
type chunks struct{ n int }

func (c *chunks) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, io.EOF
	}
	c.n--
	p[0] = 'x'
	return 1, nil
}

func (c *chunks) Close() error { return nil }

func TestBodyIdleIgnoresSlowCaller(t *testing.T) {
	ready := rtFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: &chunks{n: 3}}, nil
	})
	tr := New(ready, Policy{BodyIdle: 10 * time.Millisecond})
	resp, err := tr.RoundTrip(httptest.NewRequest("GET", "http://x.test/", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := make([]byte, 1)
	for i := range 4 {
		time.Sleep(30 * time.Millisecond) // three idle bounds between reads
		if _, err := resp.Body.Read(p); err != nil && err != io.EOF {
			t.Fatalf("Read %d error = %v, want none: the caller, not the server, was slow", i, err)
		}
	}
}

func TestReportDeadline(t *testing.T) {
	const bound = time.Hour
	far, cancelFar := context.WithTimeout(context.Background(), 2*bound)
	defer cancelFar()
	near, cancelNear := context.WithTimeout(context.Background(), time.Minute)
	defer cancelNear()
	tests := []struct {
		name   string
		ctx    context.Context
		p      Policy
		wantDL bool
		wantBy time.Duration // the deadline lies within this of now
	}{
		{"off", context.Background(), Policy{Headers: bound}, false, 0},
		{"on", context.Background(), Policy{Headers: bound, ReportDeadline: true}, true, bound},
		{"on, caller's later", far, Policy{Headers: bound, ReportDeadline: true}, true, bound},
		{"on, caller's earlier", near, Policy{Headers: bound, ReportDeadline: true}, true, time.Minute},
		{"on without Headers", context.Background(), Policy{BodyIdle: bound, ReportDeadline: true}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				dl time.Time
				ok bool
			)
			below := rtFunc(func(r *http.Request) (*http.Response, error) {
				dl, ok = r.Context().Deadline()
				return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
			})
			req := httptest.NewRequest("GET", "http://x.test/", nil).WithContext(tc.ctx)
			start := time.Now()
			resp, err := New(below, tc.p).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if ok != tc.wantDL {
				t.Fatalf("deadline seen below = %v, want %v", ok, tc.wantDL)
			}
			if d := dl.Sub(start) - tc.wantBy; ok && (d > time.Second || d < -time.Second) {
				t.Errorf("deadline seen below = now+%v, want now+%v", dl.Sub(start), tc.wantBy)
			}
		})
	}
}

type closer struct {
	http.RoundTripper
	closed int
}

func (c *closer) CloseIdleConnections() { c.closed++ }

func TestCloseIdleConnectionsForwarded(t *testing.T) {
	for _, p := range []Policy{{}, {Headers: time.Second, BodyIdle: time.Second}} {
		c := &closer{}
		rt := Middleware(p)(c)
		rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		if c.closed != 1 {
			t.Errorf("policy %+v: CloseIdleConnections reached below %d times, want 1", p, c.closed)
		}
	}
	New(rtFunc(nil), Policy{}).CloseIdleConnections() // a RoundTripper without the method
}

func TestNilNextIsDefaultTransport(t *testing.T) {
	if tr := New(nil, Policy{}); tr.next != http.DefaultTransport {
		t.Errorf("New(nil, …) sends through %T, want http.DefaultTransport", tr.next)
	}
}

func TestNilNilBelowBecomesError(t *testing.T) {
	broken := rtFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	for _, p := range []Policy{{}, {Headers: time.Second}, {BodyIdle: time.Second}} {
		resp, err := New(broken, p).RoundTrip(httptest.NewRequest("GET", "http://x.test/", nil))
		if resp != nil || !errors.Is(err, errclass.ErrNilResponse) {
			t.Errorf("policy %+v: RoundTrip() = %v, %v; want nil, ErrNilResponse", p, resp, err)
		}
	}
}

func TestNilRequestWithBound(t *testing.T) {
	// Every policy, the zero one included: a nil request or URL is an
	// invalid request, never a panic below.
	for _, p := range []Policy{{}, {Headers: time.Second}, {BodyIdle: time.Second}} {
		if _, err := New(rtFunc(nil), p).RoundTrip(nil); !errors.Is(err, errclass.ErrInvalidRequest) {
			t.Errorf("%+v: RoundTrip(nil) error = %v, want ErrInvalidRequest", p, err)
		}
		if _, err := New(rtFunc(nil), p).RoundTrip(&http.Request{Method: "GET", Header: http.Header{}}); !errors.Is(err, errclass.ErrInvalidRequest) {
			t.Errorf("%+v: RoundTrip(no URL) error = %v, want ErrInvalidRequest", p, err)
		}
	}
}

func TestZeroPolicyPassesThrough(t *testing.T) {
	want := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("x"))}
	req := httptest.NewRequest("GET", "http://x.test/", nil)
	below := rtFunc(func(r *http.Request) (*http.Response, error) {
		if r != req {
			t.Errorf("request below is a copy, want the caller's")
		}
		return want, nil
	})
	for _, p := range []Policy{{}, {Headers: -1, BodyIdle: -1, ReportDeadline: true}} {
		tr := New(below, p)
		if resp, err := tr.RoundTrip(req); resp != want || resp.Body != want.Body || err != nil {
			t.Errorf("policy %+v: RoundTrip() = %p, %v; want the response from below, untouched", p, resp, err)
		}
		if n := testing.AllocsPerRun(100, func() { tr.RoundTrip(req) }); n != 0 {
			t.Errorf("policy %+v: RoundTrip allocates %v times, want 0", p, n)
		}
	}
}

// A response that arrives just as the bound fires is closed, not leaked,
// and the request still reports the cut.
func TestLateResponseClosed(t *testing.T) {
	body := &trackClose{ReadCloser: io.NopCloser(strings.NewReader("late"))}
	late := rtFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return &http.Response{StatusCode: 200, Body: body}, nil
	})
	_, err := New(late, Policy{Headers: 5 * time.Millisecond}).RoundTrip(httptest.NewRequest("GET", "http://x.test/", nil))
	if !errors.Is(err, ErrHeaders) || !body.closed {
		t.Errorf("RoundTrip() error = %v, body closed = %v; want ErrHeaders and closed", err, body.closed)
	}
}

type trackClose struct {
	io.ReadCloser
	closed bool
}

func (b *trackClose) Close() error { b.closed = true; return b.ReadCloser.Close() }

func BenchmarkRoundTrip(b *testing.B) {
	ok := rtFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	for _, bc := range []struct {
		name string
		p    Policy
	}{
		{"zero", Policy{}},
		{"headers", Policy{Headers: time.Minute}},
		{"headers+deadline", Policy{Headers: time.Minute, ReportDeadline: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := New(ok, bc.p)
			req := httptest.NewRequest("GET", "http://x.test/", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, _ := tr.RoundTrip(req)
				resp.Body.Close()
			}
		})
	}
}
