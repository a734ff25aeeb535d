package breaker

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// When every breaker kept is open, a new host still gets a breaker: an
// open one makes room (open breakers are reluctant to go, not pinned), and
// the bound holds.
func TestEveryBreakerOpenStillMakesRoom(t *testing.T) {
	stub := &flip{}
	stub.fail.Store(true)
	tr := New(stub, Policy{MaxKeys: 2, ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	for _, h := range []string{"a", "b"} {
		get(t, tr, "http://"+h+".test/")
		if _, err := get(t, tr, "http://"+h+".test/"); !errors.Is(err, ErrOpen) {
			t.Fatalf("host %s: error = %v, want open", h, err)
		}
	}
	if _, err := get(t, tr, "http://c.test/"); err != nil {
		t.Errorf("new host with every breaker open: error = %v, want sent", err)
	}
	st := tr.States()
	if len(st) != 2 || st["http://c.test"] != StateOpen {
		t.Errorf("States() = %v, want c open and one of a, b", st)
	}
}

// Lookups of breakers that exist allocate nothing, whether the host is the
// last one used or another.
func TestLookupAllocs(t *testing.T) {
	tr := New(newOK(), Policy{})
	a, _ := http.NewRequest(http.MethodGet, "http://a.test/", nil)
	b, _ := http.NewRequest(http.MethodGet, "http://b.test/", nil)
	tr.RoundTrip(a)
	tr.RoundTrip(b)
	reqs := [2]*http.Request{a, b}
	i := 0
	if n := testing.AllocsPerRun(100, func() { tr.RoundTrip(reqs[i%2]); i++ }); n != 0 {
		t.Errorf("RoundTrip alternating two hosts: %v allocs, want 0", n)
	}
}

// okRT answers every request 200 without allocating.
type okRT struct{ resp *http.Response }

func (o okRT) RoundTrip(*http.Request) (*http.Response, error) { return o.resp, nil }

func newOK() okRT { return okRT{&http.Response{StatusCode: 200, Body: http.NoBody}} }

// BenchmarkClosedSuccess is the success path: one host, a closed breaker
// found through the registry's last-used entry.
func BenchmarkClosedSuccess(b *testing.B) {
	tr := New(newOK(), Policy{})
	req, _ := http.NewRequest(http.MethodGet, "http://a.test/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.RoundTrip(req)
		}
	})
}

// BenchmarkManyKeys alternates among 64 hosts: lookups miss the last-used
// entry and go to the map.
func BenchmarkManyKeys(b *testing.B) {
	tr := New(newOK(), Policy{})
	reqs := make([]*http.Request, 64)
	for i := range reqs {
		reqs[i], _ = http.NewRequest(http.MethodGet, fmt.Sprintf("http://h%d.test/", i), nil)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tr.RoundTrip(reqs[i%len(reqs)])
			i++
		}
	})
}

// With MaxKeys left zero, at most 1000 breakers are kept (the README's
// default): a flood of 1500 hosts leaves exactly 1000.
func TestDefaultMaxKeys(t *testing.T) {
	tr := New(newOK(), Policy{})
	for i := range 1500 {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://h%d.test/", i), nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(tr.States()); n != 1000 {
		t.Errorf("%d breakers kept after 1500 hosts, want 1000", n)
	}
}

// BenchmarkChurn cycles 1000 hosts through a registry of 50: nearly every
// request creates a breaker and evicts another.
func BenchmarkChurn(b *testing.B) {
	tr := New(newOK(), Policy{MaxKeys: 50})
	reqs := make([]*http.Request, 1000)
	for i := range reqs {
		reqs[i], _ = http.NewRequest(http.MethodGet, fmt.Sprintf("http://h%d.test/", i), nil)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.RoundTrip(reqs[i%len(reqs)])
		i++
	}
}
