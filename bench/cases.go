package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// stub answers 200 with a small body without touching the network: what
// remains is the client's and the middleware's own cost.
type stub struct{}

func (stub) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

func recordingProvider() *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(discard{}))
}

var kib = bytes.Repeat([]byte("0123456789abcdef"), 64)

// do builds a request, sends it and reads the body: one client call.
func do(b *testing.B, d Doer, method, url string, body []byte) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		b.Error(err) // not Fatal: this also runs on RunParallel's goroutines
		return
	}
	resp, err := d.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// Env is what the benchmark cases share: a loopback server, the peers
// (recording rows included) and one client per peer and base.
type Env struct {
	Server *httptest.Server
	Peers  []Peer
	tp     *sdktrace.TracerProvider

	mu      sync.Mutex
	clients map[string]Doer
	bases   []*http.Transport
}

// NewEnv starts the loopback server.
func NewEnv() *Env {
	tp := recordingProvider()
	return &Env{
		Server: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, `{"job_id":"job_1","status":"done"}`)
		})),
		Peers:   Peers(tp),
		tp:      tp,
		clients: map[string]Doer{},
	}
}

// Close stops the server and releases connections.
func (e *Env) Close() {
	for _, b := range e.bases {
		b.CloseIdleConnections()
	}
	e.Server.Close()
	e.tp.Shutdown(context.Background())
}

// client returns p's client over a stub or over loopback, made once.
func (e *Env) client(p Peer, loopback bool) Doer {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := p.Name
	if loopback {
		key += "/loopback"
	}
	if d, ok := e.clients[key]; ok {
		return d
	}
	var base http.RoundTripper = stub{}
	if loopback {
		t := &http.Transport{MaxIdleConnsPerHost: 64}
		e.bases = append(e.bases, t)
		base = t
	}
	d := p.New(base)
	e.clients[key] = d
	return d
}

// Case is one benchmark case.
type Case struct {
	Name string
	Run  func(b *testing.B, e *Env, p Peer)
}

// Cases are the benchmark cases, in table order.
var Cases = []Case{
	{"stub", func(b *testing.B, e *Env, p Peer) {
		d := e.client(p, false)
		for b.Loop() {
			do(b, d, http.MethodGet, "http://127.0.0.1/v1/jobs/1", nil)
		}
	}},
	{"loopback GET", func(b *testing.B, e *Env, p Peer) {
		d := e.client(p, true)
		for b.Loop() {
			do(b, d, http.MethodGet, e.Server.URL+"/v1/jobs/1", nil)
		}
	}},
	{"loopback POST 1KiB", func(b *testing.B, e *Env, p Peer) {
		d := e.client(p, true)
		for b.Loop() {
			do(b, d, http.MethodPost, e.Server.URL+"/v1/enhancements", kib)
		}
	}},
	{"loopback 64 goroutines", func(b *testing.B, e *Env, p Peer) {
		d := e.client(p, true)
		b.SetParallelism(32) // 64 goroutines on 2 CPUs
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				do(b, d, http.MethodGet, e.Server.URL+"/v1/jobs/1", nil)
			}
		})
	}},
}
