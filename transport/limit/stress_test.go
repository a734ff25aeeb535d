package limit

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestStressCancel(t *testing.T) {
	for _, adaptive := range []bool{false, true} {
		var now, peak atomic.Int64
		next := rtFunc(func(r *http.Request) (*http.Response, error) {
			n := now.Add(1)
			defer now.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			switch rand.IntN(6) {
			case 0:
				return nil, errors.New("boom")
			case 1:
				return &http.Response{StatusCode: 503, Header: http.Header{}, Body: http.NoBody}, nil
			case 2:
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: nil}, nil
			case 3:
				select {
				case <-r.Context().Done():
					return nil, r.Context().Err()
				case <-time.After(time.Duration(rand.IntN(200)) * time.Microsecond):
				}
			}
			return &http.Response{StatusCode: 200 + 229*rand.IntN(2), Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
		})
		tr := New(next, Policy{Max: 7, MinLimit: 2, Adaptive: adaptive, MaxWait: time.Duration(rand.IntN(3)) * time.Millisecond})
		var wg sync.WaitGroup
		var inBody atomic.Int64
		for range 300 {
			wg.Go(func() {
				for range 30 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(500))*time.Microsecond)
					resp, err := get(t, tr, ctx)
					if err == nil && resp.Body != nil {
						inBody.Add(1)
						if rand.IntN(2) == 0 {
							io.Copy(io.Discard, resp.Body)
						}
						resp.Body.Close()
						resp.Body.Close()
						inBody.Add(-1)
					}
					cancel()
				}
			})
		}
		wg.Wait()
		if p := peak.Load(); p > 7 {
			t.Errorf("adaptive %v: peak %d > 7", adaptive, p)
		}
		l, n, _ := tr.Limit("https://api.example.com")
		if n != 0 || l < 2 || l > 7 {
			t.Errorf("adaptive %v: limit %d in flight %d", adaptive, l, n)
		}
		if q := queued(tr, host); q != 0 {
			t.Errorf("queued %d", q)
		}
	}
}
