package retry

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/resilient-http/resilient/transport/errclass"
)

func TestSDKRetries(t *testing.T) {
	never := func(*http.Request) bool { return false }
	always := func(*http.Request) bool { return true }
	tests := []struct {
		name      string
		mode      SDKRetriesMode
		fn        func(*http.Request) bool
		stainless bool // the request carries X-Stainless-Retry-Count
		override  int  // WithMaxAttempts, when positive
		want      int  // attempts
	}{
		{"none, Stainless request", SDKNone, nil, true, 0, 3},
		{"stainless, Stainless request", SDKStainless, nil, true, 0, 1},
		{"stainless, other request", SDKStainless, nil, false, 0, 3},
		{"always", SDKAlways, nil, false, 0, 1},
		{"unknown mode leaves nothing", "sometimes", nil, true, 0, 3},
		{"func true", SDKNone, always, false, 0, 1},
		{"func false", SDKNone, never, true, 0, 3},
		{"func StainlessSDK", SDKNone, StainlessSDK, true, 0, 1},
		{"mode or func: func", SDKStainless, always, false, 0, 1},
		{"mode or func: mode", SDKStainless, never, true, 0, 1},
		{"a call's limit wins", SDKAlways, always, true, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScript(t, step{status: 429})
			p := fast
			p.SDKRetriesMode, p.SDKRetries = tc.mode, tc.fn
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if tc.stainless {
				req.Header.Set("X-Stainless-Retry-Count", "0")
			}
			if tc.override > 0 {
				req = req.WithContext(WithMaxAttempts(req.Context(), tc.override))
			}
			resp := mustRoundTrip(t, New(srv.Client().Transport, p), req)
			if resp.StatusCode != 429 || srv.count() != tc.want {
				t.Errorf("RoundTrip() = %d after %d attempts, want 429 after %d", resp.StatusCode, srv.count(), tc.want)
			}
		})
	}
}

// A request left to its SDK ends with the first attempt's error, as when
// attempts run out, and the SDKRetries hook is not asked on success.
func TestSDKRetriesErrorAndSuccess(t *testing.T) {
	var asked atomic.Int32
	p := fast
	p.SDKRetries = func(*http.Request) bool { asked.Add(1); return true }
	refused := errors.New("dial: connection refused")
	stub := roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, refused })
	p.Classifier = func(*http.Request, *http.Response, error) errclass.Outcome {
		return errclass.Outcome{Class: errclass.Retryable, Delivery: errclass.NotSent}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	_, err := New(stub, p).RoundTrip(req)
	var re *Error
	if !errors.As(err, &re) || re.Attempts != 1 || !errors.Is(err, refused) || !errors.Is(err, ErrExhausted) {
		t.Errorf("RoundTrip() error = %v, want *Error after 1 attempt, attempts_exhausted, wrapping the cause", err)
	}
	if asked.Load() != 1 {
		t.Errorf("SDKRetries asked %d times after a failure, want 1", asked.Load())
	}

	asked.Store(0)
	p.Classifier = nil
	ok := canned{&http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	if _, err := New(ok, p).RoundTrip(req); err != nil || asked.Load() != 0 {
		t.Errorf("success: error %v, SDKRetries asked %d times; want nil and 0", err, asked.Load())
	}
}

func TestStainlessSDK(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"first attempt", http.Header{"X-Stainless-Retry-Count": {"0"}}, true},
		{"later attempt", http.Header{"X-Stainless-Retry-Count": {"2"}}, true},
		{"other Stainless headers only", http.Header{"X-Stainless-Lang": {"go"}}, false},
		{"none", http.Header{}, false},
		{"nil header", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := (&http.Request{Header: tc.header}).WithContext(context.Background())
			if got := StainlessSDK(req); got != tc.want {
				t.Errorf("StainlessSDK(%v) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// Hooks that are set cost nothing on the success path either.
func TestSuccessPathWithHooksDoesNotAllocate(t *testing.T) {
	stub := canned{&http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	tr := New(stub, Policy{
		SDKRetriesMode: SDKStainless,
		SDKRetries:     StainlessSDK,
		BufferBody:     1 << 10,
		PrepareRetry:   func(*http.Request, int) error { return nil },
		Observer:       &recorder{},
	})
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	if n := testing.AllocsPerRun(100, func() { tr.RoundTrip(req) }); n != 0 {
		t.Errorf("RoundTrip on the success path allocates %v times, want 0", n)
	}
}
