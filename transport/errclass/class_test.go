package errclass

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newReq(t *testing.T, method string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		code int
		want Class
	}{
		{200, Success}, {201, Success}, {202, Success}, {204, Success},
		{301, Success}, {304, Success},
		{400, Permanent}, {401, Permanent}, {402, Permanent}, {403, Permanent},
		{404, Permanent}, {405, Permanent}, {408, Permanent}, {409, Permanent},
		{422, Permanent}, {451, Permanent},
		{425, Retryable}, {429, Retryable},
		{500, Retryable}, {502, Retryable}, {503, Retryable}, {504, Retryable},
		{501, Permanent}, {505, Permanent},
		{0, Permanent}, {99, Permanent}, {600, Permanent}, {999, Permanent},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.code, Header: http.Header{}}
			got := Classify(newReq(t, http.MethodPost), resp, nil)
			if got.Class != tc.want {
				t.Errorf("Classify(%d).Class = %v, want %v", tc.code, got.Class, tc.want)
			}
			if got.Delivery != Delivered || got.StatusCode != tc.code {
				t.Errorf("Classify(%d) = %+v, want Delivered with status", tc.code, got)
			}
		})
	}
}

func TestClassifyRetryAfterHint(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		header http.Header
		want   time.Duration
	}{
		{"429 seconds", 429, http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"503 seconds", 503, http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{"500 with hint", 500, http.Header{"Retry-After": {"1"}}, time.Second},
		{"429 garbage", 429, http.Header{"Retry-After": {"soon"}}, 0},
		{"429 negative", 429, http.Header{"Retry-After": {"-5"}}, 0},
		{"429 enormous", 429, http.Header{"Retry-After": {"99999999999999999999"}}, 0},
		{"400 ignores hint", 400, http.Header{"Retry-After": {"3"}}, 0},
		{"200 ignores hint", 200, http.Header{"Retry-After": {"3"}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(nil, &http.Response{StatusCode: tc.code, Header: tc.header}, nil)
			if got.RetryAfter != tc.want {
				t.Errorf("RetryAfter = %v, want %v", got.RetryAfter, tc.want)
			}
		})
	}
}

func TestClassifyErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	get := newReq(t, http.MethodGet)
	post := newReq(t, http.MethodPost)
	keyed := newReq(t, http.MethodPost)
	keyed.Header.Set("Idempotency-Key", "k1")

	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "x"}}
	readReset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

	tests := []struct {
		name     string
		req      *http.Request
		err      error
		class    Class
		delivery Delivery
		timeout  bool
	}{
		{"caller canceled", get.WithContext(canceled), errors.New("whatever"), Canceled, Ambiguous, false},
		{"caller deadline", get.WithContext(expired), context.DeadlineExceeded, Canceled, Ambiguous, false},
		{"context.Canceled from below", get, fmt.Errorf("x: %w", context.Canceled), Canceled, Ambiguous, false},
		{"dial error GET", get, dialRefused, Retryable, NotSent, false},
		{"dial error POST", post, dialRefused, Retryable, NotSent, false},
		{"ECONNREFUSED POST", post, syscall.ECONNREFUSED, Retryable, NotSent, false},
		{"DNS not found", post, &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, Permanent, NotSent, false},
		{"DNS temporary", post, &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true, IsTemporary: true}, Retryable, NotSent, true},
		{"reset GET", get, readReset, Retryable, Ambiguous, false},
		{"reset POST", post, readReset, Permanent, Ambiguous, false},
		{"reset POST with key", keyed, readReset, Retryable, Ambiguous, false},
		{"EOF GET", get, fmt.Errorf("conn broken: %w", io.EOF), Retryable, Ambiguous, false},
		{"unexpected EOF POST", post, io.ErrUnexpectedEOF, Permanent, Ambiguous, false},
		{"attempt timeout GET", get, fmt.Errorf("attempt: %w", context.DeadlineExceeded), Retryable, Ambiguous, true},
		{"attempt timeout POST", post, context.DeadlineExceeded, Permanent, Ambiguous, true},
		{"unknown error", get, errors.New(`unsupported protocol scheme "ftp"`), Permanent, Ambiguous, false},
		{"no response, no error", get, nil, Permanent, Ambiguous, false},
		{"ErrNilResponse", get, fmt.Errorf("layer: %w", ErrNilResponse), Permanent, Ambiguous, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(tc.req, nil, tc.err)
			if got.Class != tc.class || got.Delivery != tc.delivery || got.Timeout != tc.timeout {
				t.Errorf("Classify(%v) = %v/%v timeout=%v, want %v/%v timeout=%v",
					tc.err, got.Class, got.Delivery, got.Timeout, tc.class, tc.delivery, tc.timeout)
			}
		})
	}
}

// The following cases produce real errors from net/http over loopback, so a
// change in how the standard library reports them breaks a test here rather
// than silently changing what is retried.

func TestClassifyRealConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("x"))
	_, err = tr.RoundTrip(req)
	if err == nil {
		t.Fatal("RoundTrip to a closed port succeeded")
	}
	got := Classify(req, nil, err)
	if got.Class != Retryable || got.Delivery != NotSent {
		t.Errorf("Classify(%v) = %v/%v, want retryable/not_sent", err, got.Class, got.Delivery)
	}
}

func TestClassifyRealTLSError(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	srv.Config.ErrorLog = discardLogger()
	tr := &http.Transport{} // does not trust the test server's certificate
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err := tr.RoundTrip(req)
	if err == nil {
		t.Fatal("RoundTrip with an untrusted certificate succeeded")
	}
	if got := Classify(req, nil, err); got.Class != Permanent {
		t.Errorf("Classify(%v).Class = %v, want permanent", err, got.Class)
	}
}

// hijackServer answers every request by running fn on the raw connection.
func hijackServer(t *testing.T, fn func(c net.Conn)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		fn(c)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClassifyRealResetAndEOF(t *testing.T) {
	reset := func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	eof := func(c net.Conn) { c.Close() }
	midHeaders := func(c net.Conn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
		reset(c)
	}
	for _, tc := range []struct {
		name  string
		fault func(net.Conn)
	}{{"reset", reset}, {"eof", eof}, {"reset mid-headers", midHeaders}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := hijackServer(t, tc.fault)
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				req, _ := http.NewRequest(method, srv.URL, strings.NewReader("payload"))
				req.GetBody = nil // keep net/http from replaying it on its own
				_, err := tr.RoundTrip(req)
				if err == nil {
					t.Fatalf("%s: RoundTrip succeeded", method)
				}
				want := Retryable
				if method == http.MethodPost {
					want = Permanent
				}
				if got := Classify(req, nil, err); got.Class != want || got.Delivery != Ambiguous {
					t.Errorf("%s: Classify(%v) = %v/%v, want %v/ambiguous", method, err, got.Class, got.Delivery, want)
				}
			}
		})
	}
}

func TestClassifyRealHTTP2StreamError(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler) // the server resets the stream
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c := srv.Client()
	defer c.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err := c.Transport.RoundTrip(req)
	if err == nil {
		t.Fatal("RoundTrip succeeded")
	}
	var se h2StreamError
	if !errors.As(err, &se) {
		t.Fatalf("errors.As(%v, h2StreamError) = false: the mirror of net/http's StreamError no longer matches", err)
	}
	if got := Classify(req, nil, err); got.Class != Retryable || got.Delivery != Ambiguous {
		t.Errorf("Classify(%v) = %v/%v, want retryable/ambiguous", err, got.Class, got.Delivery)
	}
	// The same stream error with REFUSED_STREAM means nothing was processed.
	refused := h2StreamError{StreamID: 1, Code: h2RefusedStream}
	if got := Classify(newReq(t, http.MethodPost), nil, fmt.Errorf("h2: %w", refused)); got.Class != Retryable || got.Delivery != NotSent {
		t.Errorf("Classify(REFUSED_STREAM) = %v/%v, want retryable/not_sent", got.Class, got.Delivery)
	}
}

func TestWithStatus(t *testing.T) {
	c := Classifier(Classify).WithStatus(Retryable, http.StatusConflict).WithStatus(Permanent, http.StatusServiceUnavailable)
	req := newReq(t, http.MethodGet)
	conflict := &http.Response{StatusCode: 409, Header: http.Header{"Retry-After": {"4"}}}
	if got := c(req, conflict, nil); got.Class != Retryable || got.RetryAfter != 4*time.Second {
		t.Errorf("409 = %+v, want retryable with 4s hint", got)
	}
	if got := c(req, &http.Response{StatusCode: 503, Header: http.Header{}}, nil); got.Class != Permanent {
		t.Errorf("503 = %v, want permanent", got.Class)
	}
	if got := c(req, &http.Response{StatusCode: 500, Header: http.Header{}}, nil); got.Class != Retryable {
		t.Errorf("500 = %v, want retryable (deferred to Classify)", got.Class)
	}
	var nilC Classifier
	if got := nilC.WithStatus(Success, 404)(req, &http.Response{StatusCode: 404}, nil); got.Class != Success {
		t.Errorf("nil.WithStatus(404) = %v, want success", got.Class)
	}
}

func TestIdempotent(t *testing.T) {
	for method, want := range map[string]bool{
		"GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true, "PUT": true, "DELETE": true, "": true,
		"POST": false, "PATCH": false, "CONNECT": false,
	} {
		req := &http.Request{Method: method, Header: http.Header{}}
		if got := Idempotent(req); got != want {
			t.Errorf("Idempotent(%q) = %v, want %v", method, got, want)
		}
	}
	for _, h := range []string{"Idempotency-Key", "X-Idempotency-Key"} {
		req := &http.Request{Method: "POST", Header: http.Header{h: {"abc"}}}
		if !Idempotent(req) {
			t.Errorf("Idempotent(POST with %s) = false, want true", h)
		}
	}
	if Idempotent(nil) {
		t.Error("Idempotent(nil) = true")
	}
}

func TestClassifySuccessDoesNotAllocate(t *testing.T) {
	req := newReq(t, http.MethodGet)
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Retry-After": {"1"}}}
	if n := testing.AllocsPerRun(100, func() { Classify(req, resp, nil) }); n != 0 {
		t.Errorf("Classify(200) allocates %v times, want 0", n)
	}
}

func BenchmarkClassifySuccess(b *testing.B) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	resp := &http.Response{StatusCode: 200, Header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		Classify(req, resp, nil)
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

type refusal struct{ wait time.Duration }

func (r refusal) Error() string          { return "refused" }
func (r refusal) RetryIn() time.Duration { return r.wait }

func TestClassifyRefusal(t *testing.T) {
	got := Classify(newReq(t, http.MethodGet), nil, fmt.Errorf("layer: %w", refusal{3 * time.Second}))
	want := Outcome{Class: Permanent, Delivery: NotSent, Refused: true, RetryAfter: 3 * time.Second}
	if got != want {
		t.Errorf("Classify(refusal) = %+v, want %+v", got, want)
	}
	if got := Classify(newReq(t, http.MethodGet), nil, refusal{-time.Second}); got.RetryAfter != 0 || !got.Refused {
		t.Errorf("Classify(refusal with negative wait) = %+v, want Refused with no wait", got)
	}
}

func TestClassifyShouldRetryHeaders(t *testing.T) {
	const stripe, stainless = "Stripe-Should-Retry", "X-Should-Retry"
	retryable := func(fault bool, ra time.Duration) Outcome {
		return Outcome{Class: Retryable, ServerFault: fault, RetryAfter: ra}
	}
	advised := func(ra time.Duration) Outcome {
		return Outcome{Class: Retryable, Advised: true, RetryAfter: ra}
	}
	permanent := func(fault bool) Outcome { return Outcome{Class: Permanent, ServerFault: fault} }
	tests := []struct {
		name   string
		code   int
		header http.Header
		want   Outcome // StatusCode and Delivery filled in by the test
	}{
		// "false": never retried, a failing server still a server fault.
		{"429 false", 429, http.Header{stainless: {"false"}, "Retry-After": {"1"}}, permanent(false)},
		{"503 false", 503, http.Header{stripe: {"false"}}, permanent(true)},
		{"500 false, other case and spaces", 500, http.Header{stainless: {" FALSE "}}, permanent(true)},
		{"425 false", 425, http.Header{stripe: {"false"}}, permanent(false)},
		{"501 false", 501, http.Header{stripe: {"false"}}, permanent(false)},
		{"409 false", 409, http.Header{stainless: {"false"}}, permanent(false)},
		// "true": a permanent status becomes retryable, with its hint.
		{"409 true", 409, http.Header{stripe: {"true"}, "Retry-After": {"2"}}, advised(2 * time.Second)},
		{"408 true", 408, http.Header{stainless: {"True"}}, advised(0)},
		{"401 true", 401, http.Header{stainless: {"true"}}, advised(0)},
		{"501 true", 501, http.Header{stainless: {"true"}}, advised(0)},
		{"503 true stays a plain retryable fault", 503, http.Header{stainless: {"true"}, "Retry-After": {"3"}}, retryable(true, 3*time.Second)},
		{"429 true", 429, http.Header{stripe: {"true"}}, retryable(false, 0)},
		// Statuses that always go out once.
		{"400 true", 400, http.Header{stripe: {"true"}}, permanent(false)},
		{"402 true", 402, http.Header{stainless: {"true"}}, permanent(false)},
		{"404 true", 404, http.Header{stainless: {"true"}}, permanent(false)},
		{"422 true", 422, http.Header{stripe: {"true"}}, permanent(false)},
		{"600 true", 600, http.Header{stripe: {"true"}}, permanent(false)},
		{"200 false is a success", 200, http.Header{stripe: {"false"}}, Outcome{}},
		{"302 true is a success", 302, http.Header{stripe: {"true"}}, Outcome{}},
		// Disagreement and noise.
		{"true and false: false wins", 409, http.Header{stripe: {"true"}, stainless: {"false"}}, permanent(false)},
		{"false and true: false wins", 503, http.Header{stripe: {"false"}, stainless: {"true"}}, permanent(true)},
		{"garbage ignored", 503, http.Header{stripe: {"maybe"}, stainless: {"1"}}, retryable(true, 0)},
		{"empty ignored", 409, http.Header{stainless: {""}}, permanent(false)},
		{"no headers", 409, http.Header{}, permanent(false)},
		{"nil header", 409, nil, permanent(false)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			want.StatusCode, want.Delivery = tc.code, Delivered
			got := Classify(newReq(t, http.MethodPost), &http.Response{StatusCode: tc.code, Header: tc.header}, nil)
			if got != want {
				t.Errorf("Classify(%d, %v) = %+v, want %+v", tc.code, tc.header, got, want)
			}
		})
	}
}

// The caller's status overrides are classified before Classify reads the
// headers: they win over what the server advises.
func TestWithStatusWinsOverShouldRetry(t *testing.T) {
	c := Classifier(Classify).WithStatus(Retryable, http.StatusConflict).WithStatus(Permanent, http.StatusForbidden)
	req := newReq(t, http.MethodPost)
	if got := c(req, &http.Response{StatusCode: 409, Header: http.Header{"X-Should-Retry": {"false"}}}, nil); got.Class != Retryable {
		t.Errorf("409 declared retryable, server says false: %v, want retryable", got.Class)
	}
	if got := c(req, &http.Response{StatusCode: 403, Header: http.Header{"X-Should-Retry": {"true"}}}, nil); got.Class != Permanent || got.Advised {
		t.Errorf("403 declared permanent, server says true: %+v, want permanent", got)
	}
}

func TestClassifyShouldRetryDoesNotAllocate(t *testing.T) {
	req := newReq(t, http.MethodPost)
	resp := &http.Response{StatusCode: 503, Header: http.Header{"X-Should-Retry": {"false"}, "Stripe-Should-Retry": {"true"}}}
	if n := testing.AllocsPerRun(100, func() { Classify(req, resp, nil) }); n != 0 {
		t.Errorf("Classify(503 with should-retry headers) allocates %v times, want 0", n)
	}
}

// TestClassifyRefusedResponse guards issue 14 item 5: a response marked
// with RefusedHeader is a refusal, not the server's answer, before any
// should-retry header and whatever its status; WithStatus leaves it alone.
func TestClassifyRefusedResponse(t *testing.T) {
	refused := func(status int, h ...string) *http.Response {
		hdr := http.Header{"Retry-After": {"7"}}
		MarkRefused(hdr, "breaker")
		for i := 0; i+1 < len(h); i += 2 {
			hdr.Set(h[i], h[i+1])
		}
		return &http.Response{StatusCode: status, Header: hdr}
	}
	want := func(status int) Outcome {
		return Outcome{Class: Permanent, Delivery: NotSent, Refused: true, StatusCode: status, RetryAfter: 7 * time.Second}
	}
	for _, tc := range []struct {
		name string
		resp *http.Response
	}{
		{"503", refused(503)},
		{"503 should retry true", refused(503, "X-Should-Retry", "true", "Stripe-Should-Retry", "true")},
		{"503 should retry false", refused(503, "X-Should-Retry", "false")},
		{"429", refused(429)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(t, http.MethodGet)
			if got := Classify(req, tc.resp, nil); got != want(tc.resp.StatusCode) {
				t.Errorf("Classify() = %+v, want %+v", got, want(tc.resp.StatusCode))
			}
			for _, cls := range []Class{Retryable, Success} {
				if got := Classifier(nil).WithStatus(cls, tc.resp.StatusCode)(req, tc.resp, nil); got != want(tc.resp.StatusCode) {
					t.Errorf("WithStatus(%v) = %+v, want %+v", cls, got, want(tc.resp.StatusCode))
				}
			}
		})
	}
	// Without the marker, the same 503 is the server's: a retryable fault.
	if got := Classify(newReq(t, http.MethodGet), &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"7"}}}, nil); got.Refused || !got.ServerFault {
		t.Errorf("Classify(unmarked 503) = %+v, want a server fault", got)
	}
}
