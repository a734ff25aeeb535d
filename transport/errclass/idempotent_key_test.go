package errclass

import (
	"net/http"
	"testing"
)

// A header with a nil (or empty) value list is not sent by net/http:
// such a request carries no key on the wire, so it must not count as
// idempotent (hedging and RequireIdempotencyKey would send a POST twice
// with nothing to deduplicate it).
func TestIdempotentKeyNotSent(t *testing.T) {
	for _, h := range []string{"Idempotency-Key", "X-Idempotency-Key"} {
		for _, v := range [][]string{nil, {}} {
			req := &http.Request{Method: http.MethodPost, Header: http.Header{h: v}}
			if Idempotent(req) {
				t.Errorf("Idempotent(POST with %s: %#v) = true, want false: no key is sent", h, v)
			}
		}
	}
}
