package transport

import (
	"hash/maphash"
	"sync/atomic"
)

// routeCacheSize is how many (method, host, path) → pattern answers a Stack
// remembers.
const routeCacheSize = 512

// routeCache remembers recent routing answers in a direct-mapped table, so
// that a client calling the same URLs over and over (polling a job, posting
// to one endpoint) pays ServeMux's matching, and the allocation of its
// wildcard values, once per URL rather than per request. Entries are
// immutable and swapped atomically; a collision just replaces the older
// answer.
type routeCache struct {
	seed    maphash.Seed
	entries [routeCacheSize]atomic.Pointer[routeEntry]
}

// routeEntry is one answer: everything ServeMux matches on, and the pattern.
type routeEntry struct {
	method, host, path, rawPath string
	pattern                     string
}

func newRouteCache() *routeCache { return &routeCache{seed: maphash.MakeSeed()} }

func (c *routeCache) slot(method, host, path, rawPath string) *atomic.Pointer[routeEntry] {
	h := maphash.String(c.seed, method)
	h = h*31 ^ maphash.String(c.seed, host)
	h = h*31 ^ maphash.String(c.seed, path)
	if rawPath != "" {
		h = h*31 ^ maphash.String(c.seed, rawPath)
	}
	return &c.entries[h%routeCacheSize]
}
