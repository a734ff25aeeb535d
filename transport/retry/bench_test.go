package retry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/resilient-http/resilient/transport/errclass"
)

// canned answers 200 with a shared response, like a transport that costs
// nothing, so the benchmark sees only the layer's own overhead.
type canned struct{ resp *http.Response }

func (c canned) RoundTrip(*http.Request) (*http.Response, error) { return c.resp, nil }

func BenchmarkSuccessPath(b *testing.B) {
	stub := canned{&http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", stub},
		{"retry", New(stub, Policy{})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.rt.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.rt.RoundTrip(req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	stub := canned{&http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}}
	tr := New(stub, Policy{})
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	// A context with composed observers and an attempt limit costs nothing
	// either: the first attempt reads neither.
	ctx := errclass.WithObserver(errclass.WithObserver(req.Context(), &recorder{}), &recorder{})
	withValues := req.WithContext(WithMaxAttempts(ctx, 5))
	for name, req := range map[string]*http.Request{"plain": req, "observers and override": withValues} {
		if n := testing.AllocsPerRun(100, func() { tr.RoundTrip(req) }); n != 0 {
			t.Errorf("%s: RoundTrip on the success path allocates %v times, want 0", name, n)
		}
	}
}
