package transport_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/resilient-http/resilient/transport"
)

// The zero Stack has no layers: it sends each request once to
// http.DefaultTransport and passes the response through, and its other
// methods are safe.
func TestZeroStack(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var s transport.Stack
	defer s.CloseIdleConnections() // reaches http.DefaultTransport, for goleak

	req := httptest.NewRequest(http.MethodGet, srv.URL, nil)
	req.RequestURI = ""
	resp, err := s.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip() error = %v, want the 503", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || hits.Load() != 1 {
		t.Errorf("RoundTrip() status = %d after %d attempts, want 503 after 1 (no retry layer)", resp.StatusCode, hits.Load())
	}
	if _, err := s.RoundTrip(nil); !errors.Is(err, transport.ErrInvalidRequest) {
		t.Errorf("RoundTrip(nil) error = %v, want ErrInvalidRequest", err)
	}
	if p := s.Pattern(req); p != "" {
		t.Errorf("Pattern() = %q, want \"\"", p)
	}
	if st := s.States(); len(st) != 0 {
		t.Errorf("States() = %v, want empty", st)
	}
	s.ResetCredits()
}
