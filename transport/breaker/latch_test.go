package breaker

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// credits is a fake partner API: enhancement submits answer 402 while
// credits are out, everything else 200. It counts requests per endpoint.
type credits struct {
	mu    sync.Mutex
	out   bool
	hits  map[string]int
	block chan struct{} // if set, submits wait on it
}

func (c *credits) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	ep := r.Method + " " + r.URL.Path
	c.mu.Lock()
	c.hits[ep]++
	out, block := c.out, c.block
	c.mu.Unlock()
	if block != nil && ep == "POST /v1/enhancements" {
		<-block
	}
	code, body := 200, `{}`
	if out && ep == "POST /v1/enhancements" {
		code, body = 402, `{"detail":"Insufficient credits"}`
	} else if ep == "POST /v1/enhancements" {
		code = 202
	}
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

func (c *credits) count(ep string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[ep]
}

func (c *credits) setOut(out bool) {
	c.mu.Lock()
	c.out = out
	c.mu.Unlock()
}

func send(t *testing.T, tr *Transport, method, path string) (int, error) {
	t.Helper()
	req, _ := http.NewRequest(method, "https://partner.test"+path, strings.NewReader(`{"persons":[]}`))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newLatched(t *testing.T, p Policy) (*Transport, *credits, *clock) {
	api := &credits{hits: map[string]int{}, out: true}
	tr := New(api, p)
	clk := &clock{now: time.Now()}
	tr.now = clk.Now
	if code, err := send(t, tr, "POST", "/v1/enhancements"); err != nil || code != 402 {
		t.Fatalf("first submit = %d, %v; want the 402 passed through", code, err)
	}
	return tr, api, clk
}

func TestCreditLatchStopsSubmits(t *testing.T) {
	tr, api, _ := newLatched(t, Policy{})
	for range 5 {
		_, err := send(t, tr, "POST", "/v1/enhancements")
		if !errors.Is(err, errclass.ErrInsufficientCredits) {
			t.Fatalf("submit after 402: error = %v, want ErrInsufficientCredits", err)
		}
		var ce *CreditError
		if !errors.As(err, &ce) || ce.Key != "POST https://partner.test/v1/enhancements" || ce.RetryIn() < 59*time.Second {
			t.Fatalf("error = %#v, want a CreditError for the endpoint, a minute to wait", err)
		}
	}
	if n := api.count("POST /v1/enhancements"); n != 1 {
		t.Errorf("%d submits reached the server, want 1 (the one that got 402)", n)
	}
	// Other endpoints on the same host are not latched.
	for _, ep := range [][2]string{{"GET", "/v1/jobs/job_1/results"}, {"POST", "/v1/lists"}} {
		if code, err := send(t, tr, ep[0], ep[1]); err != nil || code != 200 {
			t.Errorf("%s %s = %d, %v; want 200", ep[0], ep[1], code, err)
		}
	}
	// Until the caller says credits are back.
	api.setOut(false)
	tr.ResetCredits()
	if code, err := send(t, tr, "POST", "/v1/enhancements"); err != nil || code != 202 {
		t.Errorf("submit after ResetCredits = %d, %v; want 202", code, err)
	}
}

func TestCreditLatchCooldownProbe(t *testing.T) {
	tr, api, clk := newLatched(t, Policy{CreditCooldown: time.Minute})

	// After the cooldown one probe goes out; the server still says 402.
	clk.Advance(61 * time.Second)
	if code, err := send(t, tr, "POST", "/v1/enhancements"); err != nil || code != 402 {
		t.Fatalf("probe = %d, %v; want the 402", code, err)
	}
	if _, err := send(t, tr, "POST", "/v1/enhancements"); !errors.Is(err, errclass.ErrInsufficientCredits) {
		t.Fatalf("after a failed probe: error = %v, want latched again", err)
	}
	if n := api.count("POST /v1/enhancements"); n != 2 {
		t.Fatalf("%d submits reached the server, want 2", n)
	}

	// Credits come back; while the next probe is in flight, others are refused.
	api.setOut(false)
	clk.Advance(61 * time.Second)
	api.mu.Lock()
	api.block = make(chan struct{})
	api.mu.Unlock()
	done := make(chan int)
	go func() {
		code, _ := send(t, tr, "POST", "/v1/enhancements")
		done <- code
	}()
	for api.count("POST /v1/enhancements") < 3 {
		time.Sleep(time.Millisecond)
	}
	if _, err := send(t, tr, "POST", "/v1/enhancements"); !errors.Is(err, errclass.ErrInsufficientCredits) {
		t.Errorf("second request during the probe: error = %v, want refused", err)
	}
	close(api.block)
	if code := <-done; code != 202 {
		t.Fatalf("probe = %d, want 202", code)
	}
	api.mu.Lock()
	api.block = nil
	api.mu.Unlock()
	if code, err := send(t, tr, "POST", "/v1/enhancements"); err != nil || code != 202 {
		t.Errorf("submit after a successful probe = %d, %v; want 202 (latch released)", code, err)
	}
}

func TestCreditLatchDisabled(t *testing.T) {
	tr, api, _ := newLatched(t, Policy{DisableCreditLatch: true})
	for range 3 {
		if code, err := send(t, tr, "POST", "/v1/enhancements"); err != nil || code != 402 {
			t.Fatalf("submit = %d, %v; want the 402 each time", code, err)
		}
	}
	if n := api.count("POST /v1/enhancements"); n != 4 {
		t.Errorf("%d submits reached the server, want 4", n)
	}
}
