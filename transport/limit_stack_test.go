package transport

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/limit"
	"github.com/resilient-http/resilient/transport/retry"
)

// Hedged requests through a limit of 2: each loser's slot must come back,
// whether the loser stalls before its headers or answers a retryable
// status whose body stalls.
func TestHedgeLoserSlotsComeBack(t *testing.T) {
	for _, mode := range []string{"headers", "body503"} {
		t.Run(mode, func(t *testing.T) {
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1)%2 == 1 {
					if mode == "body503" {
						w.Header().Set("Content-Length", "100")
						w.WriteHeader(503)
						io.WriteString(w, "x")
						w.(http.Flusher).Flush()
					}
					<-r.Context().Done()
					return
				}
				io.WriteString(w, "done")
			}))
			defer srv.Close()
			stack, err := NewStack(srv.Client().Transport, Config{
				Default: Policy{
					Retry: retry.Policy{Hedge: retry.HedgePolicy{Delay: 5 * time.Millisecond}},
					Limit: limit.Policy{Max: 2, MaxWait: -1},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer stack.CloseIdleConnections()
			for i := range 10 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/x", nil)
				resp, err := stack.RoundTrip(req)
				if err != nil {
					cancel()
					t.Fatalf("request %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				cancel()
				if !strings.Contains(string(b), "done") {
					t.Fatalf("request %d: body %q status %d", i, b, resp.StatusCode)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
