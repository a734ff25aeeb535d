package faultserver

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// OutcomeReset is the outcome a [Flapper] records for a request it answered
// with a connection reset instead of a status.
const OutcomeReset = 0

// IDHeader is the request header that names a request for a [Flapper]: every
// attempt of one logical request carries the same value.
const IDHeader = "X-Request-Id"

// Flapper is a handler that fails a fraction of requests with 500, 503 or
// 429 (Retry-After: 0), in equal shares, resets the connection of another
// fraction after reading the request, and answers the rest 200 "ok". It
// logs, per request id ([IDHeader]), every request it received and what it
// did, so that a load test counts outcomes at the server rather than
// trusting what its client returned. Create it with [Flapping]; it is safe
// for concurrent use.
//
// Its choices are deterministic: the n-th request of an id gets
// [Flapper.Plan](id, n) for the Flapper's seed, whatever the order in which
// concurrent requests arrive. Requests without an id share the id "".
type Flapper struct {
	seed          uint64
	pFail, pReset float64

	mu      sync.Mutex
	records map[string]*Record
}

// Record is what a [Flapper] saw of one request id.
type Record struct {
	// Method is the method of the first request with this id.
	Method string
	// Key is the Idempotency-Key header of the first request ("" if none).
	Key string
	// KeyChanged reports that a later request carried another key, or none.
	KeyChanged bool
	// BodyChanged reports that a later request's body differed from the
	// first request's.
	BodyChanged bool
	// Outcomes holds, in order of arrival, what each request with this id
	// was answered: its status code, or [OutcomeReset].
	Outcomes []int

	body uint64 // hash of the first request's body
}

// Sends returns how many requests with this id reached the server.
func (r Record) Sends() int { return len(r.Outcomes) }

// Count returns how many requests with this id were answered outcome.
func (r Record) Count(outcome int) int {
	n := 0
	for _, o := range r.Outcomes {
		if o == outcome {
			n++
		}
	}
	return n
}

// Last returns the outcome of the last request with this id.
func (r Record) Last() int { return r.Outcomes[len(r.Outcomes)-1] }

// Flapping returns a Flapper that, for the given seed, fails about pFail of
// the requests (500, 503 or 429) and resets about pReset of them; pFail +
// pReset should not exceed 1.
func Flapping(seed uint64, pFail, pReset float64) *Flapper {
	return &Flapper{seed: seed, pFail: pFail, pReset: pReset, records: make(map[string]*Record)}
}

// Plan returns what the Flapper answers to the n-th request (from 1) with
// the given id: a status code, or [OutcomeReset].
func (f *Flapper) Plan(id string, n int) int {
	h := fnv.New64a()
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], f.seed)
	binary.LittleEndian.PutUint64(buf[8:], uint64(n))
	h.Write(buf[:])
	io.WriteString(h, id)
	sum := mix(h.Sum64())
	u := float64(sum>>11) / (1 << 53) // uniform in [0, 1)
	switch {
	case u < f.pReset:
		return OutcomeReset
	case u < f.pReset+f.pFail:
		return [...]int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests}[sum%3]
	}
	return http.StatusOK
}

// mix finishes a hash so that its high and low bits are both well spread
// (FNV alone leaves the high bits of similar inputs alike).
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// ServeHTTP reads the request, logs it under its id, and answers as
// [Flapper.Plan] says. The log entry is written before the answer, so a
// client that got an answer finds it in [Flapper.Records].
func (f *Flapper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := fnv.New64a()
	io.Copy(h, r.Body)
	id, key := r.Header.Get(IDHeader), r.Header.Get("Idempotency-Key")

	f.mu.Lock()
	rec := f.records[id]
	if rec == nil {
		rec = &Record{Method: r.Method, Key: key, body: h.Sum64()}
		f.records[id] = rec
	} else {
		rec.KeyChanged = rec.KeyChanged || key != rec.Key
		rec.BodyChanged = rec.BodyChanged || h.Sum64() != rec.body
	}
	out := f.Plan(id, len(rec.Outcomes)+1)
	rec.Outcomes = append(rec.Outcomes, out)
	f.mu.Unlock()

	switch out {
	case OutcomeReset:
		Reset().ServeHTTP(w, r)
	case http.StatusOK:
		io.WriteString(w, "ok")
	case http.StatusTooManyRequests:
		Status(out, "Retry-After", "0").ServeHTTP(w, r)
	default:
		Status(out).ServeHTTP(w, r)
	}
}

// Records returns a copy of the log: every id seen, with its record.
func (f *Flapper) Records() map[string]Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]Record, len(f.records))
	for id, rec := range f.records {
		r := *rec
		r.Outcomes = slices.Clone(rec.Outcomes)
		out[id] = r
	}
	return out
}

// Totals returns how many requests the Flapper answered with each outcome
// (status code, or [OutcomeReset]).
func (f *Flapper) Totals() map[int]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int]int{}
	for _, rec := range f.records {
		for _, o := range rec.Outcomes {
			out[o]++
		}
	}
	return out
}

// String summarises the totals, e.g. "reset:305 200:7012 429:1004 500:998 503:981".
func (f *Flapper) String() string {
	t := f.Totals()
	var b []byte
	for _, o := range slices.Sorted(maps.Keys(t)) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		if o == OutcomeReset {
			b = append(b, "reset"...)
		} else {
			b = strconv.AppendInt(b, int64(o), 10)
		}
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(t[o]), 10)
	}
	return string(b)
}
