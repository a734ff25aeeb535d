package redisstate

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/resilient-http/resilient/transport/fleet"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // the client's dial errors are expected here
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// slow is the OpTimeout of tests that are not about failure: the machine
// may be loaded, and a spurious timeout would make a Store local-only.
const slow = time.Second

type replica struct {
	*Store
	log *logBuf
}

// replicas returns n Stores on srv, each with its own client and logger.
func replicas(t *testing.T, srv *server, n int, o Options) []replica {
	t.Helper()
	out := make([]replica, n)
	for i := range out {
		lb := new(logBuf)
		o := o
		o.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
		s, err := New(srv.newClient(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if !s.Healthy() {
			t.Fatalf("replica %d not healthy after New", i)
		}
		out[i] = replica{s, lb}
	}
	return out
}

func TestUntilPropagates(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 3, Options{Namespace: "t", OpTimeout: slow})
	const n = 200
	var delays []time.Duration
	for i := range n {
		key := fmt.Sprintf("POST /batch/%d", i)
		start := time.Now()
		r[0].SetUntil(fleet.KindCredits, key, start.Add(time.Minute))
		if r[0].Until(fleet.KindCredits, key).IsZero() {
			t.Fatal("the publishing replica's own mirror misses its deadline")
		}
		for _, o := range r[1:] {
			for o.Until(fleet.KindCredits, key).IsZero() { // spin: a sleep would dwarf the delay
				if time.Since(start) > 2*time.Second {
					t.Fatalf("publish %d not seen by another replica within 2s", i)
				}
				runtime.Gosched()
			}
		}
		delays = append(delays, time.Since(start))
	}
	slices.Sort(delays)
	t.Logf("propagation to both other replicas over %d publishes: p50 %v, p99 %v, max %v",
		n, delays[n/2], delays[n*99/100], delays[n-1])
	// The deadline is carried as a remaining duration: what arrives is
	// about a minute from now.
	got := time.Until(r[2].Until(fleet.KindCredits, "POST /batch/0"))
	if got < 50*time.Second || got > time.Minute {
		t.Fatalf("remote deadline is %v away, want about 1m", got)
	}
}

func TestClearPropagates(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 3, Options{Namespace: "t", OpTimeout: slow})
	r[0].SetUntil(fleet.KindBreaker, "api", time.Now().Add(time.Minute))
	eventually(t, 2*time.Second, "SetUntil seen", func() bool { return !r[2].Until(fleet.KindBreaker, "api").IsZero() })
	r[1].Clear(fleet.KindBreaker, "api")
	for i, o := range r {
		eventually(t, 2*time.Second, fmt.Sprintf("Clear seen by replica %d", i), func() bool {
			return o.Until(fleet.KindBreaker, "api").IsZero()
		})
	}
	// Redis forgot it too: a new replica does not read it back.
	late := replicas(t, srv, 1, Options{Namespace: "t", OpTimeout: slow})[0]
	if !late.Until(fleet.KindBreaker, "api").IsZero() {
		t.Fatal("a cleared deadline came back from Redis")
	}
}

func TestNewReplicaReadsExistingDeadlines(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 2, Options{Namespace: "t", OpTimeout: slow})
	a, watcher := r[0], r[1]
	a.SetUntil(fleet.KindThrottle, "api.example.com", time.Now().Add(time.Minute))
	a.SetUntil(fleet.KindThrottle, "api.example.com", time.Now().Add(time.Second)) // never shortens
	// Writes go out in order, each published after it is written: once
	// the watcher hears of a last one, the two above are in Redis.
	a.SetUntil(fleet.KindThrottle, "marker", time.Now().Add(time.Minute))
	eventually(t, 5*time.Second, "the writes reach Redis", func() bool { return !watcher.Until(fleet.KindThrottle, "marker").IsZero() })
	b := replicas(t, srv, 1, Options{Namespace: "t", OpTimeout: slow})[0]
	if d := time.Until(b.Until(fleet.KindThrottle, "api.example.com")); d < 50*time.Second {
		t.Fatalf("a new replica reads the deadline %v away, want about 1m", d)
	}
	other := replicas(t, srv, 1, Options{Namespace: "other", OpTimeout: slow})[0]
	if !other.Until(fleet.KindThrottle, "api.example.com").IsZero() {
		t.Fatal("another namespace reads the deadline")
	}
}

func TestFailuresSumAcrossReplicas(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 3, Options{Namespace: "t", OpTimeout: slow})
	for i, o := range r {
		o.Add(fleet.KindBreaker, "api", i+2, 10*time.Second) // 2 + 3 + 4
	}
	for i, o := range r {
		eventually(t, 2*time.Second, fmt.Sprintf("replica %d counts the fleet's 9 failures", i), func() bool {
			return o.Count(fleet.KindBreaker, "api") == 9
		})
	}
	time.Sleep(20 * time.Millisecond) // an echo counted twice would show now
	if got := r[0].Count(fleet.KindBreaker, "api"); got != 9 {
		t.Fatalf("Count = %d, want 9 (own failures counted once)", got)
	}
}

func TestLeaseOneOfThree(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 3, Options{Namespace: "t", OpTimeout: slow})
	for k := range 20 {
		key := fmt.Sprintf("api-%d", k)
		var held atomic.Int32
		var holder atomic.Int32
		var wg sync.WaitGroup
		for i, o := range r {
			wg.Go(func() {
				if o.Lease(fleet.KindBreaker, key, time.Minute) {
					held.Add(1)
					holder.Store(int32(i))
				}
			})
		}
		wg.Wait()
		if held.Load() != 1 {
			t.Fatalf("%s: %d replicas hold the lease, want 1", key, held.Load())
		}
		if !r[holder.Load()].Lease(fleet.KindBreaker, key, time.Minute) {
			t.Fatalf("%s: the holder asking again lost the lease", key)
		}
	}
	if !r[0].Lease(fleet.KindBreaker, "short", 30*time.Millisecond) {
		t.Fatal("a free lease was refused")
	}
	eventually(t, 2*time.Second, "an expired lease passes to another replica", func() bool {
		return r[1].Lease(fleet.KindBreaker, "short", time.Minute)
	})
}

// run has each replica take events from the rate for d, sleeping when told
// to wait, and returns how many it granted in all.
func run(r []replica, key string, l fleet.Limit, d time.Duration) int64 {
	var granted atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for _, o := range r {
		wg.Go(func() {
			for time.Now().Before(end) {
				wait, ok := o.Reserve(context.Background(), key, l)
				if ok {
					granted.Add(1)
					continue
				}
				time.Sleep(min(wait, time.Until(end)))
			}
		})
	}
	wg.Wait()
	return granted.Load()
}

func TestSharedRate(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 3, Options{Namespace: "t", Replicas: 3, OpTimeout: slow})
	l := fleet.Limit{Rate: 50, Burst: 5}
	got := run(r, "account", l, 2*time.Second)
	// 2s at 50/s plus the burst: 105. Each replica alone would grant as
	// many, so a rate not shared would show about three times that.
	t.Logf("three replicas granted %d events in 2s at 50/s (burst 5)", got)
	if got < 85 || got > 120 {
		t.Fatalf("granted %d events, want about 105", got)
	}
	if s := r[0].Stats(); s.Failed != 0 {
		t.Fatalf("Stats.Failed = %d with Redis up", s.Failed)
	}
}

func TestRedisLostAndBack(t *testing.T) {
	srv := startRedis(t)
	const opTimeout = 100 * time.Millisecond
	r := replicas(t, srv, 3, Options{Namespace: "t", Replicas: 3, OpTimeout: opTimeout, MaxBackoff: 200 * time.Millisecond})
	r[0].SetUntil(fleet.KindCredits, "POST /batch", time.Now().Add(time.Minute))
	eventually(t, 2*time.Second, "SetUntil seen", func() bool { return !r[1].Until(fleet.KindCredits, "POST /batch").IsZero() })

	srv.kill()

	// No call waits beyond the bound, whatever the state.
	bound := 10 * opTimeout // generous: a loaded machine
	timed := func(name string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		if d := time.Since(start); d > bound {
			t.Errorf("%s took %v with Redis down, want < %v", name, d, bound)
		}
	}
	for range 5 {
		timed("Reserve", func() { r[0].Reserve(context.Background(), "account", fleet.Limit{Rate: 30, Burst: 3}) })
		timed("Lease", func() { r[0].Lease(fleet.KindBreaker, "api", time.Second) })
		timed("SetUntil", func() { r[0].SetUntil(fleet.KindThrottle, "h", time.Now().Add(time.Second)) })
		timed("Add", func() { r[0].Add(fleet.KindBreaker, "api", 1, time.Second) })
		timed("Until", func() { r[0].Until(fleet.KindCredits, "POST /batch") })
	}
	for i, o := range r {
		eventually(t, 5*time.Second, fmt.Sprintf("replica %d notices the loss", i), func() bool { return !o.Healthy() })
	}
	if r[1].Until(fleet.KindCredits, "POST /batch").IsZero() {
		t.Fatal("the mirror lost a deadline when Redis went down")
	}
	if !r[1].Lease(fleet.KindBreaker, "local", time.Minute) {
		t.Fatal("a local lease was refused with Redis down")
	}

	// The rate falls back to 30/3 = 10/s per replica (burst 1).
	got := run(r[:1], "fallback", fleet.Limit{Rate: 30, Burst: 3}, time.Second)
	t.Logf("one replica granted %d events in 1s at 30/s over 3 replicas with Redis down", got)
	if got < 8 || got > 13 {
		t.Fatalf("granted %d events with Redis down, want about 11 (10/s + burst 1)", got)
	}
	if s := r[0].Stats(); s.Failed == 0 || s.Dropped == 0 {
		t.Fatalf("Stats = %+v with Redis down, want failures and dropped writes counted", s)
	}

	srv.start()
	for i, o := range r {
		eventually(t, 10*time.Second, fmt.Sprintf("replica %d resumes", i), o.Healthy)
	}
	// Sharing resumes: a write is seen by the others again (retrying, as a
	// replica's resubscription may trail its first ping).
	eventually(t, 10*time.Second, "sharing resumes", func() bool {
		r[2].SetUntil(fleet.KindThrottle, "after", time.Now().Add(time.Minute))
		time.Sleep(10 * time.Millisecond)
		return !r[0].Until(fleet.KindThrottle, "after").IsZero() && !r[1].Until(fleet.KindThrottle, "after").IsZero()
	})
	for i, o := range r {
		if n := o.log.count("Redis lost"); n != 1 {
			t.Errorf("replica %d logged %d lost lines, want 1:\n%s", i, n, o.log.String())
		}
		if n := o.log.count("Redis back"); n != 1 {
			t.Errorf("replica %d logged %d back lines, want 1:\n%s", i, n, o.log.String())
		}
	}
}

func TestUnknownVersionIgnored(t *testing.T) {
	srv := startRedis(t)
	c := srv.newClient()
	ctx := context.Background()
	// A later release's entry and message, then one of ours.
	if err := c.Set(ctx, "t:u:1:future-key", "2", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	a := replicas(t, srv, 1, Options{Namespace: "t", OpTimeout: slow})[0]
	if !a.Until(fleet.KindCredits, "future-key").IsZero() {
		t.Fatal("an entry of an unknown version was read")
	}
	for _, msg := range []string{
		"2|u|1|someone|60000|0|future",
		"1|u|9|someone|60000|0|unknown-kind",
		"1|x|1|someone|60000|0|unknown-op",
		"garbage",
		"1|u|1|someone|60000|0|known",
	} {
		if err := c.Publish(ctx, "t:events", msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 2*time.Second, "a message of our version applied", func() bool {
		return !a.Until(fleet.KindCredits, "known").IsZero()
	})
	if !a.Until(fleet.KindCredits, "future").IsZero() {
		t.Fatal("a message of an unknown version was applied")
	}
	if got := a.Stats().Ignored; got != 5 {
		t.Fatalf("Stats.Ignored = %d, want 5 (1 entry, 4 messages)", got)
	}
}

func TestNewChecksClient(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := New(c, Options{}); err == nil {
		t.Fatal("New accepted a client that ignores context deadlines")
	}
}

func TestStartsWithRedisDown(t *testing.T) {
	srv := startRedis(t)
	srv.kill()
	lb := new(logBuf)
	s, err := New(srv.newClient(), Options{Namespace: "t", Logger: slog.New(slog.NewTextHandler(lb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Healthy() {
		t.Fatal("Healthy with Redis down")
	}
	if _, ok := s.Reserve(context.Background(), "k", fleet.Limit{Rate: 1, Burst: 1}); !ok {
		t.Fatal("the first local Reserve was refused")
	}
	srv.start()
	eventually(t, 10*time.Second, "connects by itself", s.Healthy)
	if lb.count("Redis lost") != 1 || lb.count("Redis back") != 1 {
		t.Fatalf("log:\n%s\nwant one lost and one back line", lb.String())
	}
}

func TestUntilAllocs(t *testing.T) {
	srv := startRedis(t)
	a := replicas(t, srv, 1, Options{Namespace: "t", OpTimeout: slow})[0]
	a.SetUntil(fleet.KindThrottle, "api.example.com", time.Now().Add(time.Hour))
	if n := testing.AllocsPerRun(100, func() { a.Until(fleet.KindThrottle, "api.example.com") }); n != 0 {
		t.Fatalf("Until allocates %v times, want 0", n)
	}
}

func BenchmarkUntil(b *testing.B) {
	a := benchStore(b)
	a.SetUntil(fleet.KindThrottle, "api.example.com", time.Now().Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		a.Until(fleet.KindThrottle, "api.example.com")
	}
}

func BenchmarkReserve(b *testing.B) {
	a := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a.Reserve(ctx, "account", fleet.Limit{Rate: 1e9, Burst: 1e6})
	}
	if !a.Healthy() {
		b.Fatal("Redis lost during the benchmark")
	}
}

func BenchmarkSetUntil(b *testing.B) {
	a := benchStore(b)
	until := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		a.SetUntil(fleet.KindThrottle, "api.example.com", until)
	}
}

func benchStore(b *testing.B) *Store {
	srv := startRedis(b)
	s, err := New(srv.newClient(), Options{Namespace: "bench", OpTimeout: slow})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// TestRedisFrozen stops the server's process (a partition: connections
// stay open, nothing answers): no call waits beyond OpTimeout.
func TestRedisFrozen(t *testing.T) {
	srv := startRedis(t)
	const opTimeout = 100 * time.Millisecond
	a := replicas(t, srv, 1, Options{Namespace: "t", Replicas: 2, OpTimeout: opTimeout, MaxBackoff: 100 * time.Millisecond})[0]
	if _, ok := a.Reserve(context.Background(), "k", fleet.Limit{Rate: 100, Burst: 100}); !ok {
		t.Fatal("Reserve refused with Redis up")
	}
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = srv.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	for i := range 20 {
		start := time.Now()
		if _, ok := a.Reserve(context.Background(), "k", fleet.Limit{Rate: 100, Burst: 100}); !ok {
			t.Fatalf("Reserve %d refused: the local fallback holds 50 events", i)
		}
		if d := time.Since(start); d > opTimeout+500*time.Millisecond {
			t.Fatalf("Reserve %d took %v with Redis frozen, want about %v at most", i, d, opTimeout)
		}
	}
	if a.Healthy() {
		t.Fatal("Healthy with Redis frozen")
	}
	_ = srv.cmd.Process.Signal(syscall.SIGCONT)
	resumed = true
	eventually(t, 10*time.Second, "resumes after the freeze", a.Healthy)
	if n := a.log.count("Redis lost"); n != 1 {
		t.Fatalf("logged %d lost lines, want 1", n)
	}
}
