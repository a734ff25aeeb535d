package transport_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/resilient-http/resilient/transport"
)

// BenchmarkStackPacing isolates what the pacing layer (on by default)
// and routing by header cost the stack's success path: compare "stack"
// with "stack-nopacing", and "routed-by-header" with "stack".
func BenchmarkStackPacing(b *testing.B) {
	noPacing := off
	noPacing.NoPacing = true
	routed := routesWith(off)
	routed.RouteHeader = "X-Amz-Target"
	routed.Endpoints["DynamoDB_20120810.GetItem"] = off
	for _, s := range []struct {
		name   string
		cfg    transport.Config
		header string
	}{
		{"stack", transport.Config{Default: off}, ""},
		{"stack-nopacing", transport.Config{Default: noPacing}, ""},
		{"routed-by-header", routed, "DynamoDB_20120810.GetItem"},
	} {
		rt := mustStack(b, s.cfg)
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
		if s.header != "" {
			req.Header.Set("X-Amz-Target", s.header)
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}
