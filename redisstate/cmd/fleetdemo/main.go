// Command fleetdemo shows three replicas sharing state on Redis: a 402
// latch, a throttle window and an open breaker that one replica learns
// stop the other two, against an embedded fake partner API.
//
//	REDIS_URL=redis://127.0.0.1:6379 go run ./cmd/fleetdemo
//
// Without REDIS_URL it starts a redis-server of its own on a free port,
// if the binary is installed, and stops it at the end.
package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilient-http/resilient/redisstate"
	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/pacing"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetdemo:", err)
		os.Exit(1)
	}
}

func run() error {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		addr, stop, err := startRedis()
		if err != nil {
			return fmt.Errorf("REDIS_URL is unset and no redis-server could be started: %w", err)
		}
		defer stop()
		url = "redis://" + addr
		fmt.Println("REDIS_URL unset: started redis-server on", addr)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	opt.ContextTimeoutEnabled = true // lets the Store bound every call

	api := newPartner()
	defer api.Close()

	// One namespace per run, shared by the three replicas.
	ns := "fleetdemo-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var replicas []*http.Client
	for i := range 3 {
		client := redis.NewClient(opt)
		defer client.Close()
		store, err := redisstate.New(client, redisstate.Options{Namespace: ns, Replicas: 3})
		if err != nil {
			return err
		}
		defer store.Close()
		if !store.Healthy() {
			return fmt.Errorf("replica %c: Redis at %s does not answer", 'A'+i, opt.Addr)
		}
		replicas = append(replicas, &http.Client{Timeout: 10 * time.Second, Transport: transport.Chain(nil,
			credits.Middleware(credits.Policy{Fleet: store}),
			breaker.Middleware(breaker.Policy{
				Key:                 func(r *http.Request) string { return r.URL.Path },
				ConsecutiveFailures: 3,
				OpenTimeout:         10 * time.Second,
				Fleet:               store,
			}),
			pacing.Middleware(pacing.Policy{Fleet: store}),
		)})
	}
	a, b, c := replicas[0], replicas[1], replicas[2]
	// One pub/sub hop is well under a millisecond; leave it ample time.
	settle := func() { time.Sleep(50 * time.Millisecond) }

	fmt.Println("\n1. A 402 on one replica latches the route for all")
	do("A", a, "POST", api.URL+"/v1/batch")
	settle()
	do("B", b, "POST", api.URL+"/v1/batch")
	do("C", c, "POST", api.URL+"/v1/batch")
	fmt.Printf("   the partner saw %d batch request(s)\n", api.hits("/v1/batch"))

	fmt.Println("\n2. A 429 with Retry-After on one replica holds the others back")
	do("B", b, "GET", api.URL+"/v1/search")
	settle()
	var wg sync.WaitGroup
	for _, r := range []struct {
		name string
		c    *http.Client
	}{{"A", a}, {"C", c}} {
		wg.Go(func() { do(r.name, r.c, "GET", api.URL+"/v1/search") })
	}
	wg.Wait()
	fmt.Printf("   the partner saw %d search request(s)\n", api.hits("/v1/search"))

	fmt.Println("\n3. A breaker one replica opens refuses on every replica")
	for range 3 {
		do("C", c, "GET", api.URL+"/v1/report")
	}
	settle()
	do("A", a, "GET", api.URL+"/v1/report")
	do("B", b, "GET", api.URL+"/v1/report")
	fmt.Printf("   the partner saw %d report request(s)\n", api.hits("/v1/report"))
	return nil
}

// do sends one request and prints what became of it.
func do(name string, c *http.Client, method, url string) {
	req, _ := http.NewRequest(method, url, nil)
	start := time.Now()
	resp, err := c.Do(req)
	took := time.Since(start).Round(time.Millisecond)
	var (
		ce *credits.Error
		oe *breaker.OpenError
	)
	switch {
	case errors.As(err, &ce):
		fmt.Printf("   %s %s %s: not sent, credits latch (%s)\n", name, method, req.URL.Path, ce.Key)
	case errors.As(err, &oe):
		who := "its own"
		if oe.Shared {
			who = "the fleet's"
		}
		fmt.Printf("   %s %s %s: not sent, %s breaker is %v\n", name, method, req.URL.Path, who, oe.State)
	case err != nil:
		fmt.Printf("   %s %s %s: error %v\n", name, method, req.URL.Path, err)
	default:
		resp.Body.Close()
		fmt.Printf("   %s %s %s: %d after %v\n", name, method, req.URL.Path, resp.StatusCode, took)
	}
}

// partner is the fake API: /v1/batch answers 402 (no credits), /v1/search
// 429 with Retry-After: 1 to its first request, then 200, /v1/report 500.
type partner struct {
	*httptest.Server
	mu     sync.Mutex
	count  map[string]int
	search atomic.Bool
}

func newPartner() *partner {
	p := &partner{count: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.count[r.URL.Path]++
		p.mu.Unlock()
		switch r.URL.Path {
		case "/v1/batch":
			w.WriteHeader(http.StatusPaymentRequired)
		case "/v1/search":
			if !p.search.Swap(true) {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
			}
		case "/v1/report":
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	return p
}

func (p *partner) hits(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[path]
}

// startRedis starts a redis-server on a free port of 127.0.0.1, with no
// persistence, and returns its address and how to stop it.
func startRedis() (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	dir, err := os.MkdirTemp("", "fleetdemo")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	addr := "127.0.0.1:" + port
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("redis-server did not listen within 5s")
		}
	}
}
