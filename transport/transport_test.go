package transport

import (
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tag returns a middleware that appends name to the X-Trail header of a
// copy of the request, so the order of layers is visible at the bottom.
func tag(name string) Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			r := req.Clone(req.Context())
			r.Header.Add("X-Trail", name)
			return next.RoundTrip(r)
		})
	}
}

// echo answers 200 with the X-Trail header it received.
type echo struct{}

func (*echo) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200,
		Header:     http.Header{"X-Trail": {strings.Join(req.Header.Values("X-Trail"), ",")}},
		Body:       http.NoBody,
		Request:    req,
	}, nil
}

func echoTrail() http.RoundTripper { return &echo{} }

func TestChainOrder(t *testing.T) {
	rt := Chain(echoTrail(), tag("outer"), nil, tag("middle"), tag("inner"))
	resp, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Trail"); got != "outer,middle,inner" {
		t.Errorf("layer order = %q, want outer,middle,inner", got)
	}
}

func TestChainNilBase(t *testing.T) {
	if rt := Chain(nil); rt != http.DefaultTransport {
		t.Errorf("Chain(nil) = %v, want http.DefaultTransport", rt)
	}
}

// NewClient, as the README's quick start says, keeps the client's Jar,
// Timeout and CheckRedirect and leaves the original untouched.
func TestNewClientKeepsClientAndCopies(t *testing.T) {
	jar, _ := cookiejar.New(nil)
	redirect := func(*http.Request, []*http.Request) error { return errors.New("no") }
	base := echoTrail()
	orig := &http.Client{Transport: base, Jar: jar, Timeout: 7 * time.Second, CheckRedirect: redirect}
	c, err := NewClient(orig, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c == orig || orig.Transport != base {
		t.Fatal("NewClient modified or returned the caller's client")
	}
	if c.Jar != jar || c.Timeout != 7*time.Second || c.CheckRedirect == nil {
		t.Errorf("NewClient lost client settings: %+v", c)
	}
	if _, ok := c.Transport.(*Stack); !ok {
		t.Errorf("NewClient's Transport = %T, want *Stack", c.Transport)
	}
}

func TestWrapKeepsClientAndCopies(t *testing.T) {
	jar, _ := cookiejar.New(nil)
	redirect := func(*http.Request, []*http.Request) error { return errors.New("no") }
	base := echoTrail()
	orig := &http.Client{Transport: base, Jar: jar, Timeout: 7 * time.Second, CheckRedirect: redirect}

	c := Wrap(orig, tag("a"))
	if c == orig {
		t.Fatal("Wrap returned the caller's client")
	}
	if orig.Transport != base {
		t.Error("Wrap modified the caller's client")
	}
	if c.Jar != jar || c.Timeout != 7*time.Second || c.CheckRedirect == nil {
		t.Errorf("Wrap lost client settings: %+v", c)
	}
	resp, err := c.Get("http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Trail"); got != "a" {
		t.Errorf("wrapped client trail = %q, want a", got)
	}

	if c := Wrap(nil); c.Transport != http.DefaultTransport || c.Timeout != 0 {
		t.Errorf("Wrap(nil) = %+v, want a zero client over http.DefaultTransport", c)
	}
}
