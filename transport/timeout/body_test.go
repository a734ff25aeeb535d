package timeout

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// ctxBody is a body below the layer that records whether its request's
// context was done when it was read to the end and when it was closed.
type ctxBody struct {
	io.Reader
	ctx          context.Context
	doneAtClose  bool
	closedBefore bool
}

func (b *ctxBody) Close() error {
	b.doneAtClose = b.ctx.Err() != nil
	b.closedBefore = true
	return nil
}

// The request's context lives as long as its body: released when the body
// is read to its end, and, for a body closed early, before the body below
// is closed (a Close below that drains must not wait on the network).
func TestBodyEndReleasesContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		read bool
	}{{"eof", true}, {"closed", false}} {
		for _, idle := range []time.Duration{0, time.Minute} {
			var below *ctxBody
			tr := New(rtFunc(func(r *http.Request) (*http.Response, error) {
				below = &ctxBody{Reader: strings.NewReader("body"), ctx: r.Context()}
				return &http.Response{StatusCode: 200, Body: below}, nil
			}), Policy{Headers: time.Minute, BodyIdle: idle})
			resp, err := tr.RoundTrip(httptest.NewRequest("GET", "http://x.test/", nil))
			if err != nil {
				t.Fatal(err)
			}
			if below.ctx.Err() != nil {
				t.Fatalf("%s, idle %v: context done before the body ended", tc.name, idle)
			}
			if tc.read {
				io.ReadAll(resp.Body)
				if !errors.Is(below.ctx.Err(), context.Canceled) {
					t.Errorf("%s, idle %v: context not released at EOF", tc.name, idle)
				}
			}
			resp.Body.Close()
			if !below.closedBefore || !below.doneAtClose {
				t.Errorf("%s, idle %v: closed below %v, context done then %v; want both", tc.name, idle, below.closedBefore, below.doneAtClose)
			}
		}
	}
}
