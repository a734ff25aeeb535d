package errclass

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// maxSeconds is the largest number of seconds a time.Duration can hold.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// ParseRetryAfter parses the value of a Retry-After header (RFC 9110
// §10.2.3): either delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015
// 07:28:00 GMT", or the obsolete RFC 850 and asctime forms), the latter
// measured from now.
//
// It reports false for anything that is not a usable wait: an empty, signed,
// fractional or otherwise malformed value, a number too large for a
// time.Duration, or a date that is not after now. Callers fall back to their
// own backoff then, rather than retrying at once.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigit(v[0]) {
		secs, ok := parseSeconds(v)
		if !ok {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now) // saturates instead of overflowing
	if d <= 0 {
		return 0, false
	}
	return d, true
}

// RetryAfter returns the wait that resp asks for: its Retry-After header, or
// when that is absent or unusable (see [ParseRetryAfter]), for 429
// responses, an X-RateLimit-Reset header holding the Unix time (in
// seconds) at which the limit resets. Reset times in the past
// (clock skew) are ignored. It reports false when resp carries no usable
// hint.
func RetryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		if d, ok := ParseRetryAfter(v, now); ok {
			return d, true
		}
		// Malformed, negative or past: no hint, but it must not hide
		// the reset time below.
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("X-Ratelimit-Reset"))
	if v == "" {
		return 0, false
	}
	secs, ok := parseSeconds(v)
	if !ok {
		return 0, false
	}
	d := time.Unix(secs, 0).Sub(now)
	if d <= 0 {
		return 0, false
	}
	return d, true
}

// parseSeconds parses a non-empty run of ASCII digits that fits in a
// time.Duration when counted in seconds.
func parseSeconds(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
		if n > maxSeconds {
			return 0, false
		}
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
