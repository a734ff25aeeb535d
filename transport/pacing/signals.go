package pacing

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// epochAfter is where a Reset value stops being delta-seconds: a larger
// value is a Unix time in seconds. No rate-limit window lasts a year, and
// no Unix time of this century is that small.
const epochAfter = 365 * 24 * 60 * 60

// signal returns how long resp asks later requests to its key to wait,
// counted from now, and whether it asks at all. It reads, taking the
// longest:
//
//   - Retry-After on a 429 or 503 (delta-seconds or an HTTP-date);
//   - the RateLimit field ("default";r=0;t=30): a member whose remaining
//     quota r is zero or less asks for its t seconds, or, without t, for
//     the window w of the RateLimit-Policy member of its name; and the
//     earlier drafts' "remaining=0, reset=30";
//   - RateLimit-Remaining and X-RateLimit-Remaining at zero or less, with
//     the Reset header of their family; on a 429 the Reset header alone
//     is enough. A Reset is delta-seconds, or a Unix time when larger than
//     a year of seconds (see epochAfter); a fraction counts.
//
// Waits already over, malformed values and anything larger than
// a day (which counts as a day) are handled so that a bad header
// never makes requests wait for long. It allocates nothing.
func signal(resp *http.Response, now *clock) (time.Duration, bool) {
	h := resp.Header
	if len(h) == 0 {
		return 0, false
	}
	var d time.Duration
	throttled := resp.StatusCode == http.StatusTooManyRequests
	if throttled || resp.StatusCode == http.StatusServiceUnavailable {
		if v := first(h, "Retry-After"); v != "" {
			if ra, ok := errclass.ParseRetryAfter(v, now.get()); ok {
				d = ra
			}
		}
	}
	for _, v := range h["Ratelimit"] {
		d = max(d, rateLimitField(v, h))
	}
	d = max(d, legacy(h, "Ratelimit-Remaining", "Ratelimit-Reset", throttled, now))
	d = max(d, legacy(h, "X-Ratelimit-Remaining", "X-Ratelimit-Reset", throttled, now))
	if d <= 0 {
		return 0, false
	}
	return min(d, maxSignal), true
}

func first(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// rateLimitField returns the wait that one RateLimit field line asks for.
func rateLimitField(v string, h http.Header) time.Duration {
	var d time.Duration
	dictRemaining, dictReset := false, int64(-1)
	var m member
	l := list{p: sfParser{s: v}}
	for l.next(&m) {
		switch m.key {
		case "remaining":
			dictRemaining = m.isNum && m.num <= 0
			continue
		case "reset":
			if m.isNum {
				dictReset = m.num
			}
			continue
		case "":
		default:
			continue
		}
		r, ok := m.param("r")
		if !ok || r > 0 {
			continue
		}
		t, ok := m.param("t")
		if !ok {
			t, ok = policyWindow(h, m.name)
		}
		if ok && t > 0 {
			d = max(d, seconds(t))
		}
	}
	if l.bad {
		return 0
	}
	if dictRemaining && dictReset > 0 {
		d = max(d, seconds(dictReset))
	}
	return d
}

// policyWindow returns the window w of the RateLimit-Policy member named
// name, from a well-formed field.
func policyWindow(h http.Header, name string) (int64, bool) {
	var m member
	for _, v := range h["Ratelimit-Policy"] {
		var w int64
		found := false
		l := list{p: sfParser{s: v}}
		for l.next(&m) {
			if !found && m.key == "" && m.name == name {
				w, found = m.param("w")
			}
		}
		if found && !l.bad {
			return w, true
		}
	}
	return 0, false
}

// clock reads the time once, when first asked: reading it costs more
// than everything else on the success path (about 300ns on some virtual
// machines), and most responses need no clock.
type clock struct {
	now  func() time.Time
	t    time.Time
	read bool
}

func (c *clock) get() time.Time {
	if !c.read {
		c.t, c.read = c.now(), true
	}
	return c.t
}

// legacy returns the wait that a pair of Remaining and Reset headers asks
// for: the Reset when Remaining is zero or less, or when the response is a
// 429 (throttled) and Remaining is absent.
func legacy(h http.Header, remainingKey, resetKey string, throttled bool, now *clock) time.Duration {
	rv, rs := first(h, remainingKey), first(h, resetKey)
	if rs == "" {
		return 0
	}
	if rv != "" {
		n, ok := parseInt(trim(rv))
		if !ok || n > 0 {
			return 0
		}
	} else if !throttled {
		return 0
	}
	return parseReset(trim(rs), now)
}

// parseReset parses a Reset value: delta-seconds, or a Unix time in seconds
// when larger than epochAfter, with an optional fraction of up to nine
// digits. It returns 0 for anything malformed, past or too far away.
func parseReset(v string, now *clock) time.Duration {
	i := 0
	var secs int64
	for i < len(v) && isDigit(v[i]) {
		if i >= 12 { // past year 33658 as a Unix time
			return 0
		}
		secs = secs*10 + int64(v[i]-'0')
		i++
	}
	if i == 0 {
		return 0
	}
	var frac time.Duration
	if i < len(v) && v[i] == '.' {
		i++
		scale := time.Duration(100 * time.Millisecond)
		start := i
		for i < len(v) && isDigit(v[i]) {
			if i-start >= 9 {
				return 0
			}
			frac += time.Duration(v[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return 0
		}
	}
	if i != len(v) {
		return 0
	}
	if secs > epochAfter {
		d := time.Unix(secs, int64(frac)).Sub(now.get())
		return min(max(d, 0), maxSignal)
	}
	return min(time.Duration(secs)*time.Second+frac, maxSignal)
}

func parseInt(v string) (int64, bool) {
	neg := false
	if v != "" && v[0] == '-' {
		neg, v = true, v[1:]
	}
	if v == "" || len(v) > maxDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func trim(v string) string {
	for v != "" && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for v != "" && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// seconds converts n seconds to a Duration, saturating at a day.
func seconds(n int64) time.Duration {
	if n > int64(maxSignal/time.Second) {
		return maxSignal
	}
	return time.Duration(n) * time.Second
}
