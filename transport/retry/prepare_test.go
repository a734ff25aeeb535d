package retry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestPrepareRetryChangesEachAttemptOnly(t *testing.T) {
	type seen struct{ attempt, sig, query, body string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Header.Get("Amz-Sdk-Request"), r.Header.Get("X-Signature"), r.URL.RawQuery, string(b)})
		n := len(got)
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	var calls []int
	p := fast
	p.PrepareRetry = func(r *http.Request, attempt int) error {
		calls = append(calls, attempt)
		// A signature over the body, as SigV4 computes one.
		body, err := r.GetBody()
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(body)
		r.Header.Set("Amz-Sdk-Request", fmt.Sprintf("attempt=%d", attempt))
		r.Header.Set("X-Signature", fmt.Sprintf("%s#%d", b, attempt))
		r.URL.RawQuery = fmt.Sprintf("try=%d", attempt)
		return nil
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/items?try=1", strings.NewReader("payload"))
	req.Header.Set("Amz-Sdk-Request", "attempt=1")
	req.Header.Set("X-Signature", "payload#1")
	before := req.Header.Clone()
	resp := mustRoundTrip(t, New(srv.Client().Transport, p), req)
	if resp.StatusCode != 200 {
		t.Fatalf("RoundTrip() status = %d, want 200", resp.StatusCode)
	}
	want := []seen{
		{"attempt=1", "payload#1", "try=1", "payload"},
		{"attempt=2", "payload#2", "try=2", "payload"},
		{"attempt=3", "payload#3", "try=3", "payload"},
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("attempts sent %v, want %v", got, want)
	}
	if fmt.Sprint(calls) != "[2 3]" {
		t.Errorf("PrepareRetry called for attempts %v, want [2 3]", calls)
	}
	if fmt.Sprint(req.Header) != fmt.Sprint(before) || req.URL.RawQuery != "try=1" {
		t.Errorf("caller's request changed: header %v, query %q", req.Header, req.URL.RawQuery)
	}
}

// trackedBody records whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

func TestPrepareRetryErrorEndsRequest(t *testing.T) {
	var sent atomic.Int32
	first := &trackedBody{Reader: strings.NewReader("busy")}
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		r.Body.Close()
		return &http.Response{StatusCode: 503, Header: http.Header{}, Body: first, ContentLength: 4}, nil
	})
	var fresh []*trackedBody
	signErr := errors.New("credentials expired")
	p := fast
	p.PrepareRetry = func(*http.Request, int) error { return signErr }
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader("x"))
	req.GetBody = func() (io.ReadCloser, error) {
		b := &trackedBody{Reader: strings.NewReader("x")}
		fresh = append(fresh, b)
		return b, nil
	}
	resp, err := New(stub, p).RoundTrip(req)
	var re *Error
	var pe *PrepareError
	if resp != nil || !errors.As(err, &re) || re.Attempts != 1 || !errors.Is(err, signErr) ||
		!errors.As(err, &pe) || pe.Attempt != 2 {
		t.Fatalf("RoundTrip() = %v, %v; want *Error after 1 attempt wrapping *PrepareError{Attempt: 2} and the hook's error", resp, err)
	}
	if errors.Is(err, ErrGaveUp) {
		t.Errorf("errors.Is(%v, ErrGaveUp) = true: a failed hook is not a give-up", err)
	}
	if sent.Load() != 1 || !first.closed.Load() {
		t.Errorf("%d attempts sent, first response closed: %v; want 1 and closed", sent.Load(), first.closed.Load())
	}
	if len(fresh) != 1 || !fresh[0].closed.Load() {
		t.Errorf("the retry's fresh body was not closed (%d made)", len(fresh))
	}
	if want := "retry: 1 attempt: retry: preparing attempt 2: credentials expired"; err.Error() != want {
		t.Errorf("error text = %q, want %q", err, want)
	}
}
