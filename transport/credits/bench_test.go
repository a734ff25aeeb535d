package credits

import (
	"net/http"
	"testing"
)

func BenchmarkNoLatch(b *testing.B) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody}
	tr := New(rtFunc(func(*http.Request) (*http.Response, error) { return resp, nil }), Policy{})
	req := must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.RoundTrip(req)
		}
	})
}

// BenchmarkOtherRouteLatched measures a request while another route is
// latched: its key is computed and looked up under a read lock.
func BenchmarkOtherRouteLatched(b *testing.B) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody}
	tr := New(rtFunc(func(*http.Request) (*http.Response, error) { return resp, nil }), Policy{})
	tr.s.settle(keys{route: "POST https://partner.test/v1/enhancements"}, probes{}, latchAgain, tr.now())
	req := must(http.NewRequest("GET", "https://partner.test/v1/jobs/42", nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.RoundTrip(req)
		}
	})
}
