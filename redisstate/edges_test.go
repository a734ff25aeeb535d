package redisstate

import (
	"log/slog"

	"context"
	"github.com/redis/go-redis/v9"
	"syscall"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
)

// freeze stops srv's process until the returned func is called (or the
// test ends).
func freeze(t *testing.T, srv *server) func() {
	t.Helper()
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	done := false
	thaw := func() {
		if !done {
			done = true
			_ = srv.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	return thaw
}

// A Clear made while Redis cannot be reached (a partition, not a restart:
// Redis keeps its keys) must not be undone when Redis is back: the resync
// used to read the cleared deadline back from Redis into the very mirror
// that cleared it, so a released credits latch or a closed breaker
// refused requests again on every replica until the stale TTL ran out.
func TestClearWhileDownNotUndoneByResync(t *testing.T) {
	srv := startRedis(t)
	const opTimeout = 100 * time.Millisecond
	r := replicas(t, srv, 2, Options{Namespace: "t", OpTimeout: opTimeout, MaxBackoff: 100 * time.Millisecond})
	a, b := r[0], r[1]
	a.SetUntil(fleet.KindCredits, "POST /batch", time.Now().Add(time.Minute))
	eventually(t, 2*time.Second, "SetUntil seen", func() bool { return !b.Until(fleet.KindCredits, "POST /batch").IsZero() })

	thaw := freeze(t, srv)
	a.Reserve(context.Background(), "k", fleet.Limit{Rate: 10, Burst: 1}) // notices the loss
	if a.Healthy() {
		t.Fatal("healthy with Redis frozen")
	}
	a.Clear(fleet.KindCredits, "POST /batch") // the probe released the latch
	if !a.Until(fleet.KindCredits, "POST /batch").IsZero() {
		t.Fatal("Clear did not clear the mirror")
	}
	thaw()
	eventually(t, 10*time.Second, "a resumes", a.Healthy)
	eventually(t, 10*time.Second, "b resumes", b.Healthy)
	time.Sleep(300 * time.Millisecond) // resyncs and messages settle
	if u := a.Until(fleet.KindCredits, "POST /batch"); !u.IsZero() {
		t.Fatalf("the cleared latch is back in a's mirror after the resync, for %v", time.Until(u).Round(time.Second))
	}
	if u := b.Until(fleet.KindCredits, "POST /batch"); !u.IsZero() {
		t.Fatalf("b still holds the latch a cleared, for %v", time.Until(u).Round(time.Second))
	}
}

// Close returns promptly even while Redis is frozen, and leaks nothing
// (goleak in TestMain).
func TestCloseWhileFrozen(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 1, Options{Namespace: "t", OpTimeout: 100 * time.Millisecond})[0]
	freeze(t, srv)
	go r.Reserve(context.Background(), "k", fleet.Limit{Rate: 10, Burst: 1})
	r.SetUntil(fleet.KindThrottle, "h", time.Now().Add(time.Minute))
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	r.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v with Redis frozen", d)
	}
	time.Sleep(200 * time.Millisecond) // the Reserve above ends by its OpTimeout
}

// A user without pub/sub rights (Redis 7's default for a new ACL user is
// resetchannels) cannot subscribe: the Store must not call itself healthy
// and share nothing while saying so.
func TestNoChannelRightsNotHealthy(t *testing.T) {
	srv := startRedis(t)
	admin := srv.newClient()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "resetchannels").Err(); err != nil {
		t.Skipf("ACL SETUSER: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.addr(), Username: "app", Password: "pw", ContextTimeoutEnabled: true, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	lb := new(logBuf)
	s, err := New(c, Options{Namespace: "t", OpTimeout: 200 * time.Millisecond, Heartbeat: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other := replicas(t, srv, 1, Options{Namespace: "t", OpTimeout: slow})[0]
	time.Sleep(300 * time.Millisecond)
	other.SetUntil(fleet.KindCredits, "POST /batch", time.Now().Add(time.Minute))
	time.Sleep(300 * time.Millisecond)
	heard := !s.Until(fleet.KindCredits, "POST /batch").IsZero()
	t.Logf("healthy=%v heard=%v stats=%+v log:\n%s", s.Healthy(), heard, s.Stats(), lb.String())
	if s.Healthy() && !heard {
		t.Fatal("Healthy() while deaf to the fleet: the subscription was refused")
	}
}

// A Clear another replica published while this one was resubscribing
// never reaches it: the resync that follows the resubscription must drop
// the deadline Redis no longer holds. It used to only add what Redis
// holds, so the replica kept refusing (a released credits latch, a closed
// breaker) until the stale deadline ran out, while calling itself healthy.
func TestResyncDropsClearMissedWhileResubscribing(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 2, Options{Namespace: "t", OpTimeout: slow})
	a, b := r[0], r[1]
	a.SetUntil(fleet.KindCredits, "POST /batch", time.Now().Add(time.Minute))
	a.SetUntil(fleet.KindThrottle, "https://api", time.Now().Add(time.Minute))
	eventually(t, 2*time.Second, "SetUntil seen", func() bool {
		return !b.Until(fleet.KindCredits, "POST /batch").IsZero() && !b.Until(fleet.KindThrottle, "https://api").IsZero()
	})
	// The latch's key goes, and its Clear message is lost (as it is when
	// it is published while b's subscription is down); then b's
	// subscription breaks and go-redis renews it.
	admin := srv.newClient()
	ctx := context.Background()
	if err := admin.Del(ctx, "t:u:1:POST /batch").Err(); err != nil {
		t.Fatal(err)
	}
	// The window stays in Redis, rewritten by a later release: held all
	// the same.
	if err := admin.Set(ctx, "t:u:2:https://api", "2", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "b drops the latch Redis no longer holds", func() bool {
		return b.Until(fleet.KindCredits, "POST /batch").IsZero()
	})
	if b.Until(fleet.KindThrottle, "https://api").IsZero() {
		t.Fatal("the resync dropped a deadline Redis still holds (in a later release's value)")
	}
	if !b.Healthy() {
		t.Fatal("b not healthy after resubscribing")
	}
}

// Redis that refuses this Store's connections (a rotated password, an ACL
// user turned off) answers every call with an error reply: the Store
// shares nothing, so it must say so (Healthy false, one log line) and come
// back by itself. A failed heartbeat used to count as "Redis answered".
func TestAuthRefusedNotHealthy(t *testing.T) {
	srv := startRedis(t)
	admin := srv.newClient()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Skipf("ACL SETUSER: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.addr(), Username: "app", Password: "pw", ContextTimeoutEnabled: true, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	lb := new(logBuf)
	s, err := New(c, Options{Namespace: "t", OpTimeout: 200 * time.Millisecond, Heartbeat: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Healthy() {
		t.Fatal("not healthy after New")
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "off").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "CLIENT", "KILL", "USER", "app").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "the Store notices it is refused", func() bool { return !s.Healthy() })
	if n := lb.count("Redis lost"); n != 1 {
		t.Errorf("logged %d lost lines, want 1:\n%s", n, lb.String())
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the Store resumes", s.Healthy)
}

// New tries Redis once, bounded by OpTimeout, as its doc says: a Redis
// that accepts connections but never answers (frozen here; a stuck proxy
// does the same) must not hold a service's start. Subscribing used to
// connect without that bound, for the client's own timeouts (5s).
func TestNewBoundedWithRedisFrozen(t *testing.T) {
	srv := startRedis(t)
	thaw := freeze(t, srv)
	const opTimeout = 100 * time.Millisecond
	start := time.Now()
	s, err := New(srv.newClient(), Options{Namespace: "t", OpTimeout: opTimeout, MaxBackoff: 100 * time.Millisecond})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	thaw() // before Close: go-redis's own reconnection is not ours to bound
	if took > 10*opTimeout {
		t.Fatalf("New took %v with Redis frozen, want about OpTimeout (%v)", took, opTimeout)
	}
	if s.Healthy() {
		t.Fatal("healthy with Redis frozen")
	}
	eventually(t, 10*time.Second, "the Store connects once Redis answers", s.Healthy)
}

// With OpTimeout left zero, a lease asked of a frozen Redis waits at most
// 50 ms (the README's bound), then the replica decides alone. 400 ms leaves
// a loaded machine eight times the bound.
func TestDefaultOpTimeoutBoundsLease(t *testing.T) {
	srv := startRedis(t)
	r := replicas(t, srv, 1, Options{Namespace: "t"})[0]
	freeze(t, srv)
	start := time.Now()
	r.Lease(fleet.KindBreaker, "k", time.Minute)
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("Lease took %v with Redis frozen, want about 50ms (OpTimeout's default)", d)
	}
}
