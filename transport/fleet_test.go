package transport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/resilient-http/resilient/transport/fleet"
)

// TestConfigFleetReachesEveryLayer builds three stacks (three replicas)
// from one Config whose Fleet is a replica each of one in-process store:
// a 402 seen by one stops the others' submits, and a 429's window holds
// back the others' requests, without any of them asking the server.
func TestConfigFleetReachesEveryLayer(t *testing.T) {
	var submits, reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/enhancements":
			submits.Add(1)
			w.WriteHeader(http.StatusPaymentRequired)
			io.WriteString(w, `{"detail":"Insufficient credits"}`)
		default:
			reads.Add(1)
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()

	mem := fleet.NewMemory()
	clients := make([]*http.Client, 3)
	for i := range clients {
		cfg := Config{
			Default: Policy{NoTracing: true},
			Endpoints: map[string]Policy{
				"POST /v1/enhancements": {NoTracing: true, Credits: Credits{Enabled: true}},
			},
			Fleet: mem.Replica(),
		}
		c, err := NewClient(&http.Client{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		defer c.CloseIdleConnections()
	}
	send := func(c *http.Client, method, path string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{}`))
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}

	send(clients[0], http.MethodPost, "/v1/enhancements")
	send(clients[1], http.MethodPost, "/v1/enhancements")
	send(clients[2], http.MethodPost, "/v1/enhancements")
	if n := submits.Load(); n != 1 {
		t.Errorf("server saw %d submits after one replica's 402, want 1 (the others must be latched by the fleet)", n)
	}

	send(clients[0], http.MethodGet, "/v1/jobs/1")
	send(clients[1], http.MethodGet, "/v1/jobs/2")
	send(clients[2], http.MethodGet, "/v1/jobs/3")
	if n := reads.Load(); n != 1 {
		t.Errorf("server saw %d reads after one replica's 429 (Retry-After: 3600), want 1 (the fleet's window holds the others)", n)
	}
}
