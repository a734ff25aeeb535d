package pacing

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
)

// keyCounter is a fleet replica that counts the distinct keys it is asked
// to hold a deadline for.
type keyCounter struct {
	fleet.Store
	mu   sync.Mutex
	keys map[string]bool
}

func (k *keyCounter) SetUntil(kind fleet.Kind, key string, until time.Time) {
	k.mu.Lock()
	k.keys[key] = true
	k.mu.Unlock()
	k.Store.SetUntil(kind, key, until)
}

type rt func(*http.Request) (*http.Response, error)

func (f rt) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// MaxKeys bounds the windows kept, with a fleet too: a window this replica
// could not open (MaxKeys windows open already) is not published either,
// or a flood of hosts each answering 429 with a long Retry-After would
// grow every replica's mirror (and Redis) without bound.
func TestFleetWindowsBoundedByMaxKeys(t *testing.T) {
	kc := &keyCounter{Store: fleet.NewMemory().Replica(), keys: map[string]bool{}}
	next := rt(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3600"}}, Body: http.NoBody}, nil
	})
	tr := New(next, Policy{MaxKeys: 4, Fleet: kc})
	for i := range 100 {
		req, _ := http.NewRequest("GET", "https://h"+strconv.Itoa(i)+".evil.test/", nil)
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}
	if n := len(kc.keys); n > 4 {
		t.Fatalf("windows published to the fleet = %d, want at most MaxKeys (4)", n)
	}
}
