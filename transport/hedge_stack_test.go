package transport

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A keyed POST hedged through a whole stack: the hedge carries the same
// key and the same body bytes as the first attempt, the caller gets the
// hedge's answer with the key in resp.Request, the caller's request is
// unchanged, every span ends (the request's once, the loser's too), and
// the breaker stays closed.
func TestStackHedgedKeyedPOST(t *testing.T) {
	type hit struct{ key, body string }
	var (
		mu   sync.Mutex
		hits []hit
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, hit{r.Header.Get("Idempotency-Key"), string(b)})
		n := len(hits)
		mu.Unlock()
		if n == 1 {
			<-r.Context().Done() // the first attempt stalls
			return
		}
		io.WriteString(w, "done")
	}))
	defer srv.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	stack, err := NewStack(srv.Client().Transport, Config{
		Tracing: tracing.Config{TracerProvider: tp},
		Default: Policy{IdempotencyKey: true, Retry: retry.Policy{Hedge: retry.HedgePolicy{Delay: 10 * time.Millisecond}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/charges", strings.NewReader(`{"amount":100}`))
	resp, err := stack.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "done" {
		t.Errorf("body = %q", b)
	}
	if req.Header.Get("Idempotency-Key") != "" {
		t.Error("the caller's request got a key")
	}
	mu.Lock()
	got := append([]hit(nil), hits...)
	mu.Unlock()
	if len(got) != 2 || got[0] != got[1] || got[0].key == "" || got[0].body != `{"amount":100}` {
		t.Errorf("server hits = %+v, want two with one key and one body", got)
	}
	if resp.Request == nil || len(got) > 0 && resp.Request.Header.Get("Idempotency-Key") != got[0].key {
		t.Errorf("resp.Request does not carry the key sent")
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("3 ended spans", func() bool { return len(spans.Ended()) == 3 })
	time.Sleep(20 * time.Millisecond)
	if n := len(spans.Ended()); n != 3 {
		t.Errorf("%d spans ended, want 3 (request, first, hedge)", n)
	}
	for name, st := range stack.States() {
		if st != breaker.StateClosed {
			t.Errorf("breaker %s = %v", name, st)
		}
	}
}
