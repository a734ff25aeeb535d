package retry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A POST whose Idempotency-Key header is present with no value (nil:
// net/http writes nothing) reaches the server without a key. Hedging it
// sends the POST twice with nothing for the server to deduplicate.
func TestHedgePOSTWithUnsentKeyNotHedged(t *testing.T) {
	var hits, keyed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Idempotency-Key") != "" {
			keyed.Add(1)
		}
		io.Copy(io.Discard, r.Body)
		time.Sleep(40 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()
	tr := New(base, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"charge":100}`))
	req.Header["Idempotency-Key"] = nil
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	time.Sleep(60 * time.Millisecond) // let a hedge land
	if n := hits.Load(); n != 1 {
		t.Errorf("server got the POST %d times (%d with a key), want once: no key was sent", n, keyed.Load())
	}
}
