package credits

import (
	"io"
	"net/http"
	"strings"
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

// BenchmarkRemainingHeader measures a response read for a
// remaining-credits header (issue 13 item 2): the key, a lock and a map
// write per response that carries it.
func BenchmarkRemainingHeader(b *testing.B) {
	resp := &http.Response{StatusCode: 200, Header: http.Header{"X-Credits-Remaining": {"42"}}, Body: http.NoBody}
	tr := New(rtFunc(func(*http.Request) (*http.Response, error) { return resp, nil }), Policy{RemainingHeader: "X-Credits-Remaining"})
	req := must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.RoundTrip(req)
		}
	})
}

// BenchmarkRemainingField measures a successful JSON response read to
// its end with a remaining-credits field (issue 13 item 2), against
// BenchmarkRemainingFieldOff, the same without the field.
func BenchmarkRemainingField(b *testing.B) { benchmarkField(b, fieldPolicy) }

// BenchmarkRemainingFieldOff is BenchmarkRemainingField's baseline.
func BenchmarkRemainingFieldOff(b *testing.B) { benchmarkField(b, Policy{}) }

func benchmarkField(b *testing.B, p Policy) {
	const body = `{"job_id":"job_1","status":"queued","persons":2,"meta":{"imports_remaining":42}}`
	tr := New(rtFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 202, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
	}), p)
	req := must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 512)
		for pb.Next() {
			resp, _ := tr.RoundTrip(req)
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	})
}
