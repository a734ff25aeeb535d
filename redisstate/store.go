package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/resilient-http/resilient/transport/fleet"
)

// Options configures a Store. The zero value of each field means the
// default its doc names.
type Options struct {
	// Namespace prefixes every key and the channel: one per account and
	// environment sharing a Redis. Empty means "resilient".
	Namespace string
	// Replicas is how many replicas share the rate: when Redis cannot be
	// asked, Reserve admits Rate/Replicas (and Burst/Replicas, at least 1)
	// per replica, so the fleet does not overshoot. Zero means 1.
	Replicas int
	// Logger is told once when Redis is lost and once when it is back. Nil
	// logs nothing.
	Logger *slog.Logger
	// OpTimeout bounds every call to Redis. Zero means 50ms.
	OpTimeout time.Duration
	// Heartbeat is how often a healthy Store pings Redis to notice a loss
	// even when nothing is written. Zero means 1s.
	Heartbeat time.Duration
	// MaxBackoff caps the wait between pings while Redis is down (from
	// 50ms, doubling). Zero means 1s.
	MaxBackoff time.Duration
	// QueueSize bounds the writes waiting to be published; a write that
	// finds the queue full stays local. Zero means 1024.
	QueueSize int
	// MeterProvider receives the Store's metrics: the gauge
	// resilient.fleet.healthy (1 sharing, 0 local) and the counters
	// resilient.fleet.redis.failures, resilient.fleet.writes.kept_local and
	// resilient.fleet.entries.ignored, by resilient.fleet.namespace. Nil
	// means OpenTelemetry's global provider (a no-op until an SDK is
	// installed).
	MeterProvider metric.MeterProvider
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = "resilient"
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 50 * time.Millisecond
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	return o
}

// version tags every value and message this release writes.
const version = "1"

// Stats counts what a Store could not share.
type Stats struct {
	// Failed counts calls to Redis that failed or timed out.
	Failed uint64
	// Dropped counts writes kept local: Redis was down or the queue full.
	Dropped uint64
	// Ignored counts messages and entries of an unknown version or shape.
	Ignored uint64
}

// Store is a [fleet.Store] on Redis. Create it with New; stop it with
// Close. Safe for concurrent use.
type Store struct {
	metrics metric.Registration // nil when registering failed
	c       redis.UniversalClient
	o       Options
	id      string
	mem     *fleet.Memory // the mirror's state, for resync
	mirror  *fleet.Replica
	limiter *redis_rate.Limiter
	channel string
	ps      *redis.PubSub

	// state: 0 never connected, 1 healthy, 2 lost.
	state atomic.Int32
	// subscribed is set once Redis confirmed the channel's subscription
	// (go-redis renews it after a reconnection): until then the Store is
	// deaf to the fleet (a user without pub/sub rights, as a new ACL user
	// of Redis 7 is), so it is not healthy whatever PING says.
	subscribed               atomic.Bool
	failed, dropped, ignored atomic.Uint64
	ops                      chan op
	wake                     chan struct{}
	ctx                      context.Context
	cancel                   context.CancelFunc
	wg                       sync.WaitGroup
	closeOnce                sync.Once

	// unsent holds the Clears that could not be published (Redis down,
	// the queue full, the pipeline failed), at most QueueSize of them:
	// they are sent before the next resync, which would otherwise read
	// the cleared deadlines back from Redis into the mirror.
	unsentMu sync.Mutex
	unsent   map[fact]struct{}
}

// fact names a deadline: a key of one kind.
type fact struct {
	kind fleet.Kind
	key  string
}

const (
	stateNew int32 = iota
	stateUp
	stateDown
)

var _ fleet.Store = (*Store)(nil)

type opKind byte

const (
	opSet   opKind = 'u'
	opClear opKind = 'c'
	opAdd   opKind = 'a'
)

type op struct {
	what   opKind
	kind   fleet.Kind
	key    string
	n      int64 // opSet: remaining ms; opAdd: events
	window int64 // opAdd: window in ms
}

// New returns a Store sharing state through client under o.Namespace. It
// tries Redis once (bounded by OpTimeout) before it returns; Redis down is
// no error: the Store starts local-only and connects by itself. It fails
// only when client is nil or does not respect context deadlines
// (ContextTimeoutEnabled), since then no call to Redis could be bounded.
// The caller keeps ownership of client: Close does not close it.
func New(client redis.UniversalClient, o Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstate: nil client")
	}
	if !contextTimeouts(client) {
		return nil, errors.New("redisstate: the client must set ContextTimeoutEnabled, or OpTimeout cannot bound calls to Redis")
	}
	o = o.withDefaults()
	var b [8]byte
	_, _ = rand.Read(b[:])
	mem := fleet.NewMemory()
	s := &Store{
		c:       client,
		o:       o,
		id:      hex.EncodeToString(b[:]),
		mem:     mem,
		mirror:  mem.Replica(),
		limiter: redis_rate.NewLimiter(client),
		channel: o.Namespace + ":events",
		ops:     make(chan op, o.QueueSize),
		wake:    make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// One bound for connecting, subscribing and the confirmation: a Redis
	// that accepts connections but never answers (frozen, or behind a
	// stuck proxy) would otherwise hold New for the client's own dial and
	// read timeouts.
	ctx, cancel := context.WithTimeout(s.ctx, o.OpTimeout)
	s.ps = client.Subscribe(ctx, s.channel)
	_, err := s.ps.Receive(ctx) // the subscription's confirmation
	cancel()
	if err == nil {
		s.subscribed.Store(true)
		err = s.resync()
	}
	if err == nil {
		s.up()
	} else {
		s.down(err)
	}
	s.registerMetrics()
	s.wg.Add(3)
	go s.read()
	go s.write()
	go s.watch()
	return s, nil
}

func contextTimeouts(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true // a wrapper we cannot look into: trust it
}

// Close stops the Store's goroutines and its subscription. Writes still
// queued are dropped. It does not close the client.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.metrics != nil {
			_ = s.metrics.Unregister()
		}
		s.cancel()
		err = s.ps.Close()
		s.wg.Wait()
	})
	return err
}

// Healthy reports whether the Store shares state through Redis now.
func (s *Store) Healthy() bool { return s.state.Load() == stateUp }

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{Failed: s.failed.Load(), Dropped: s.dropped.Load(), Ignored: s.ignored.Load()}
}

func (s *Store) up() {
	switch s.state.Swap(stateUp) {
	case stateDown:
		s.log(slog.LevelInfo, "redisstate: Redis back, sharing resumes")
	case stateNew:
		s.log(slog.LevelDebug, "redisstate: connected")
	}
}

// down marks Redis lost after a failed call and wakes the watcher.
func (s *Store) down(err error) {
	if s.ctx.Err() != nil {
		return // closing
	}
	if s.state.Swap(stateDown) != stateDown {
		s.log(slog.LevelWarn, "redisstate: Redis lost, local state only", "err", err)
	}
	s.poke()
}

func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Store) log(l slog.Level, msg string, args ...any) {
	if s.o.Logger != nil {
		s.o.Logger.Log(context.Background(), l, msg, append(args, "namespace", s.o.Namespace)...)
	}
}

// fail counts a failed call and marks Redis lost, unless the caller's own
// context ended it or Redis answered (an error reply is Redis up).
func (s *Store) fail(caller context.Context, err error) {
	if s.ctx.Err() != nil {
		return // closing: not a failure of Redis
	}
	s.failed.Add(1)
	var reply redis.Error
	if caller.Err() == nil && !errors.As(err, &reply) {
		s.down(err)
	}
}

func (s *Store) untilKey(kind fleet.Kind, key string) string {
	return s.o.Namespace + ":u:" + strconv.Itoa(int(kind)) + ":" + key
}

func (s *Store) leaseKey(kind fleet.Kind, key string) string {
	return s.o.Namespace + ":l:" + strconv.Itoa(int(kind)) + ":" + key
}

// Until implements [fleet.Store.Until] from the mirror.
func (s *Store) Until(kind fleet.Kind, key string) time.Time { return s.mirror.Until(kind, key) }

// Count implements [fleet.Store.Count] from the mirror.
func (s *Store) Count(kind fleet.Kind, key string) int { return s.mirror.Count(kind, key) }

// SetUntil implements [fleet.Store.SetUntil].
func (s *Store) SetUntil(kind fleet.Kind, key string, until time.Time) {
	d := time.Until(until)
	if d <= 0 {
		return
	}
	s.mirror.SetUntil(kind, key, until)
	s.forgetClear(kind, key) // a later deadline supersedes an unsent Clear
	s.enqueue(op{what: opSet, kind: kind, key: key, n: max(d.Milliseconds(), 1)})
}

// Clear implements [fleet.Store.Clear].
func (s *Store) Clear(kind fleet.Kind, key string) {
	s.mirror.Clear(kind, key)
	s.enqueue(op{what: opClear, kind: kind, key: key})
}

// Add implements [fleet.Store.Add].
func (s *Store) Add(kind fleet.Kind, key string, n int, window time.Duration) int {
	total := s.mirror.Add(kind, key, n, window)
	s.enqueue(op{what: opAdd, kind: kind, key: key, n: int64(n), window: max(window.Milliseconds(), 1)})
	return total
}

func (s *Store) enqueue(o op) {
	if !s.Healthy() {
		s.drop(o)
		return
	}
	select {
	case s.ops <- o:
	default:
		s.drop(o)
	}
}

// drop counts a write kept local, and remembers a Clear to send later.
func (s *Store) drop(o op) {
	s.dropped.Add(1)
	s.keepClear(o)
}

// keepClear remembers o, if it is a Clear, to send before the next resync.
func (s *Store) keepClear(o op) {
	if o.what != opClear {
		return
	}
	s.unsentMu.Lock()
	if s.unsent == nil {
		s.unsent = make(map[fact]struct{})
	}
	if len(s.unsent) < s.o.QueueSize {
		s.unsent[fact{o.kind, o.key}] = struct{}{}
	}
	s.unsentMu.Unlock()
}

func (s *Store) forgetClear(kind fleet.Kind, key string) {
	s.unsentMu.Lock()
	if len(s.unsent) > 0 {
		delete(s.unsent, fact{kind, key})
	}
	s.unsentMu.Unlock()
}

// sendClears sends the Clears that could not be published, before a
// resync reads Redis's deadlines into the mirror.
func (s *Store) sendClears() error {
	s.unsentMu.Lock()
	batch := make([]fact, 0, len(s.unsent))
	for f := range s.unsent {
		batch = append(batch, f)
	}
	s.unsentMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, 20*s.o.OpTimeout)
	defer cancel()
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, f := range batch {
			o := op{what: opClear, kind: f.kind, key: f.key}
			p.Del(ctx, s.untilKey(o.kind, o.key))
			p.Publish(ctx, s.channel, s.encode(o))
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.unsentMu.Lock()
	for _, f := range batch {
		delete(s.unsent, f)
	}
	s.unsentMu.Unlock()
	return nil
}

// setScript sets a deadline unless Redis holds a later one: KEYS[1], ARGV
// value and remaining ms.
var setScript = redis.NewScript(`
local cur = redis.call('PTTL', KEYS[1])
if cur >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// leaseScript takes or keeps a lease: KEYS[1], ARGV holder and ms.
var leaseScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0`)

// maxBatch bounds the queued writes sent in one pipeline.
const maxBatch = 128

// write publishes queued writes: what queued up while the last pipeline
// was out goes in the next one (at most maxBatch), so that a burst of
// writes (a fleet's failures in an outage) costs one round trip, not one
// each, and reaches the other replicas that much sooner.
func (s *Store) write() {
	defer s.wg.Done()
	batch := make([]op, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-s.ctx.Done():
			return
		case o := <-s.ops:
			batch = append(batch, o)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		if !s.Healthy() {
			for _, o := range batch {
				s.drop(o)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.o.OpTimeout)
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, o := range batch {
				switch o.what {
				case opSet:
					// EVAL, not EVALSHA: a pipeline cannot retry a NOSCRIPT.
					setScript.Eval(ctx, p, []string{s.untilKey(o.kind, o.key)}, version, o.n)
				case opClear:
					p.Del(ctx, s.untilKey(o.kind, o.key))
				}
				p.Publish(ctx, s.channel, s.encode(o))
			}
			return nil
		})
		cancel()
		if err != nil && !errors.Is(err, redis.Nil) {
			for _, o := range batch {
				s.keepClear(o)
			}
			s.fail(context.Background(), err)
		}
	}
}

// encode writes a message: version|op|kind|replica|n|window|key.
func (s *Store) encode(o op) string {
	var b strings.Builder
	b.WriteString(version)
	b.WriteByte('|')
	b.WriteByte(byte(o.what))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(int(o.kind)))
	b.WriteByte('|')
	b.WriteString(s.id)
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(o.n, 10))
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(o.window, 10))
	b.WriteByte('|')
	b.WriteString(o.key)
	return b.String()
}

// decode reads a message; ok is false for an unknown version or shape.
func decode(msg string) (o op, from string, ok bool) {
	f := strings.SplitN(msg, "|", 7)
	if len(f) != 7 || f[0] != version || len(f[1]) != 1 {
		return op{}, "", false
	}
	k, err1 := strconv.Atoi(f[2])
	n, err2 := strconv.ParseInt(f[4], 10, 64)
	w, err3 := strconv.ParseInt(f[5], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || k < 0 || k > math.MaxUint8 || !fleet.Kind(k).Valid() {
		return op{}, "", false
	}
	o = op{what: opKind(f[1][0]), kind: fleet.Kind(k), key: f[6], n: n, window: w}
	switch o.what {
	case opSet, opClear, opAdd:
		return o, f[3], true
	}
	return op{}, "", false
}

// read applies the channel's messages to the mirror; a (re)subscription
// asks the watcher to read the keys again.
func (s *Store) read() {
	defer s.wg.Done()
	for m := range s.ps.ChannelWithSubscriptions() {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				s.subscribed.Store(true)
			}
			s.poke()
		case *redis.Message:
			s.apply(m.Payload)
		}
	}
}

func (s *Store) apply(payload string) {
	o, from, ok := decode(payload)
	if !ok {
		s.ignored.Add(1)
		return
	}
	switch o.what {
	case opSet:
		// Our own deadlines come back too: applying them keeps every
		// mirror in the channel's order.
		s.mirror.SetUntil(o.kind, o.key, time.Now().Add(time.Duration(o.n)*time.Millisecond))
	case opClear:
		s.mirror.Clear(o.kind, o.key)
	case opAdd:
		if from != s.id { // counted already
			s.mirror.Add(o.kind, o.key, int(o.n), time.Duration(o.window)*time.Millisecond)
		}
	}
}

// watch pings Redis: on the heartbeat while healthy, with backoff while
// lost, and reads the keys again when woken (a resubscription) or when
// Redis answers after a loss.
func (s *Store) watch() {
	defer s.wg.Done()
	const minBackoff = 50 * time.Millisecond
	backoff := minBackoff
	t := time.NewTimer(s.o.Heartbeat)
	defer t.Stop()
	for {
		woken := false
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
			woken = true
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.o.OpTimeout)
		err := s.c.Ping(ctx).Err()
		cancel()
		if err == nil && !s.subscribed.Load() {
			err = errNotSubscribed
		}
		if err == nil && (woken || !s.Healthy()) {
			if err = s.sendClears(); err == nil {
				err = s.resync()
			}
		}
		next := s.o.Heartbeat
		if err != nil {
			// Not fail: an error reply to the heartbeat (a refused AUTH, a
			// user turned off, LOADING) is Redis up but unusable.
			if s.ctx.Err() == nil {
				s.failed.Add(1)
				s.down(err)
			}
			next = backoff
			backoff = min(2*backoff, s.o.MaxBackoff)
			// down() poked wake: drain it, or the loop would spin.
			select {
			case <-s.wake:
			default:
			}
		} else {
			s.up()
			backoff = minBackoff
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

var errNotSubscribed = errors.New("redisstate: Redis answers but refused or has not confirmed the subscription to the channel (does the user have pub/sub rights?)")

// resync merges every deadline Redis holds into the mirror, and drops
// from the mirror the deadlines Redis no longer holds: a Clear published
// while this Store was cut off or resubscribing never reached it, and
// would otherwise refuse requests here until the deadline passed. A
// deadline set in the mirror since the scan began stays.
func (s *Store) resync() error {
	before := s.mem.Deadlines()
	var seenMu sync.Mutex // ForEachMaster scans the masters concurrently
	seen := make(map[fact]struct{})
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, globEscape(s.o.Namespace)+":u:*", 256).Result()
			if err != nil {
				return err
			}
			found, err := s.load(ctx, keys)
			if err != nil {
				return err
			}
			seenMu.Lock()
			for _, f := range found {
				seen[f] = struct{}{}
			}
			seenMu.Unlock()
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	// A whole SCAN may take several round trips: give it a few bounds.
	ctx, cancel := context.WithTimeout(s.ctx, 20*s.o.OpTimeout)
	defer cancel()
	var err error
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, s.c)
	}
	if err != nil {
		return err // a partial scan proves no deadline gone
	}
	for _, d := range before {
		if _, ok := seen[fact{d.Kind, d.Key}]; !ok {
			s.mem.ClearIf(d)
		}
	}
	return nil
}

// load reads keys' deadlines into the mirror and returns the facts
// Redis holds a deadline for.
func (s *Store) load(ctx context.Context, keys []string) ([]fact, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	vals := make([]*redis.StringCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			vals[i] = p.Get(ctx, k)
			ttls[i] = p.PTTL(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	found := make([]fact, 0, len(keys))
	now := time.Now()
	prefix := s.o.Namespace + ":u:"
	for i, k := range keys {
		v, ttl := vals[i].Val(), ttls[i].Val()
		kindStr, key, ok := strings.Cut(strings.TrimPrefix(k, prefix), ":")
		kind, err := strconv.Atoi(kindStr)
		if !ok || err != nil || kind < 0 || kind > math.MaxUint8 || !fleet.Kind(kind).Valid() {
			s.ignored.Add(1)
			continue
		}
		if ttl > 0 {
			// Held, whatever its version: a release that wrote a
			// value of its own does not make this one drop the deadline.
			found = append(found, fact{fleet.Kind(kind), key})
		}
		if v != version {
			s.ignored.Add(1)
			continue
		}
		if ttl > 0 {
			s.mirror.SetUntil(fleet.Kind(kind), key, now.Add(ttl))
		}
	}
	return found, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Lease implements [fleet.Store.Lease]: one round trip while healthy, a
// local lease otherwise.
func (s *Store) Lease(kind fleet.Kind, key string, d time.Duration) bool {
	if !s.Healthy() {
		return s.mirror.Lease(kind, key, d)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.OpTimeout)
	defer cancel()
	n, err := leaseScript.Run(ctx, s.c, []string{s.leaseKey(kind, key)}, s.id, max(d.Milliseconds(), 1)).Int()
	if err != nil {
		s.fail(context.Background(), err)
		return s.mirror.Lease(kind, key, d)
	}
	return n == 1
}

// Reserve implements [fleet.Store.Reserve]: one GCRA round trip while
// healthy, bounded by OpTimeout and ctx; a local bucket of l divided by
// Options.Replicas otherwise.
func (s *Store) Reserve(ctx context.Context, key string, l fleet.Limit) (time.Duration, bool) {
	if l.Rate <= 0 {
		return 0, true
	}
	if s.Healthy() {
		c, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
		res, err := s.limiter.Allow(c, s.o.Namespace+":r:"+key, redis_rate.Limit{
			Rate:   1,
			Period: time.Duration(float64(time.Second) / l.Rate),
			Burst:  max(l.Burst, 1),
		})
		cancel()
		if err == nil {
			if res.Allowed > 0 {
				return 0, true
			}
			return max(res.RetryAfter, 0), false
		}
		s.fail(ctx, err)
	}
	r := s.o.Replicas
	return s.mirror.Reserve(ctx, key, fleet.Limit{Rate: l.Rate / float64(r), Burst: (max(l.Burst, 1) + r - 1) / r})
}
