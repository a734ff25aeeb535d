package retry

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A body without GetBody that stalls (an io.Pipe whose writer is stuck)
// must not hold the request past its context: without BufferBody,
// net/http gives up on the context and closes the body; with it, the
// read ahead must do the same.
func TestBufferBodyStalledBodyHonoursContext(t *testing.T) {
	srv := newScript(t, step{status: 200})
	p := fast
	p.BufferBody = 64 << 10
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte(`{"partial":`)) // a little, then the writer stalls
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, pr)
	done := make(chan error, 1)
	go func() {
		resp, err := New(srv.Client().Transport, p).RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("RoundTrip() error = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(2 * time.Second):
		pw.CloseWithError(errors.New("test over")) // let the goroutine go, for goleak
		<-done
		t.Fatal("RoundTrip() still reading the request body 2s after its context ended")
	}
}

// BufferBody of math.MaxInt64 ("no limit" in code) must not lose the body.
func TestBufferBodyHugeLimitKeepsBody(t *testing.T) {
	srv := newScript(t, step{status: 503}, step{status: 200})
	p := fast
	p.BufferBody = math.MaxInt64
	body := &counted{r: strings.NewReader(`{"op":"put"}`)}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
	mustRoundTrip(t, New(srv.Client().Transport, p), req)
	bodies, _ := srv.received()
	if len(bodies) != 2 {
		t.Fatalf("server saw %d attempts, want 2", len(bodies))
	}
	for i, b := range bodies {
		if b != `{"op":"put"}` {
			t.Errorf("attempt %d sent %q, want the whole body", i+1, b)
		}
	}
}
