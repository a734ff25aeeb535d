package idempotency

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// A caller's key under a header name not in canonical form (set straight
// into the map, as code copying headers from elsewhere does) is the
// caller's key all the same: HTTP header names are case-insensitive. The
// layer must not add a second Idempotency-Key beside it.
func TestCallerKeyNonCanonicalCase(t *testing.T) {
	for _, name := range []string{"idempotency-key", "IDEMPOTENCY-KEY", "x-idempotency-key"} {
		t.Run(name, func(t *testing.T) {
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = append(r.Header.Values("Idempotency-Key"), r.Header.Values("X-Idempotency-Key")...)
				io.Copy(io.Discard, r.Body)
			}))
			defer srv.Close()
			base := srv.Client().Transport.(*http.Transport)
			defer base.CloseIdleConnections()
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
			req.Header[name] = []string{"caller-key"}
			resp, err := New(base, Policy{}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !slices.Equal(got, []string{"caller-key"}) {
				t.Errorf("server got keys %q, want only the caller's", got)
			}
		})
	}
}
