package errclass

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var raNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 120 ", 120 * time.Second, true},
		{"007", 7 * time.Second, true},
		{strconv.FormatInt(maxSeconds, 10), time.Duration(maxSeconds) * time.Second, true},
		{strconv.FormatInt(maxSeconds+1, 10), 0, false},
		{"99999999999999999999999", 0, false},
		{"", 0, false},
		{"   ", 0, false},
		{"-1", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{"soon", 0, false},
		{"3 4", 0, false},
		{"Thu, 26 Nov 2026 12:00:30 GMT", 30 * time.Second, true},         // IMF-fixdate
		{"Thursday, 26-Nov-26 12:01:00 GMT", time.Minute, true},           // RFC 850
		{"Thu Nov 26 12:00:10 2026", 10 * time.Second, true},              // asctime
		{"Thu, 26 Nov 2026 12:00:00 GMT", 0, false},                       // now
		{"Wed, 25 Nov 2026 12:00:00 GMT", 0, false},                       // past
		{"Thu, 26 Nov 2026 25:00:00 GMT", 0, false},                       // bad hour
		{"Fri, 31 Dec 9999 23:59:59 GMT", time.Duration(1<<63 - 1), true}, // saturates
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseRetryAfter(tc.in, raNow)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestRetryAfterRateLimitReset(t *testing.T) {
	reset := strconv.FormatInt(raNow.Add(42*time.Second).Unix(), 10)
	past := strconv.FormatInt(raNow.Add(-time.Minute).Unix(), 10)
	tests := []struct {
		name   string
		code   int
		h      http.Header
		want   time.Duration
		wantOK bool
	}{
		{"reset on 429", 429, http.Header{"X-Ratelimit-Reset": {reset}}, 42 * time.Second, true},
		{"Retry-After wins", 429, http.Header{"X-Ratelimit-Reset": {reset}, "Retry-After": {"2"}}, 2 * time.Second, true},
		{"Retry-After zero wins", 429, http.Header{"X-Ratelimit-Reset": {reset}, "Retry-After": {"0"}}, 0, true},
		{"reset when Retry-After is garbage", 429, http.Header{"X-Ratelimit-Reset": {reset}, "Retry-After": {"soon"}}, 42 * time.Second, true},
		{"reset when Retry-After is negative", 429, http.Header{"X-Ratelimit-Reset": {reset}, "Retry-After": {"-1"}}, 42 * time.Second, true},
		{"reset when Retry-After is past", 429, http.Header{"X-Ratelimit-Reset": {reset}, "Retry-After": {"Wed, 25 Nov 2026 12:00:00 GMT"}}, 42 * time.Second, true},
		{"garbage Retry-After alone", 429, http.Header{"Retry-After": {"soon"}}, 0, false},
		{"reset in the past", 429, http.Header{"X-Ratelimit-Reset": {past}}, 0, false},
		{"reset garbage", 429, http.Header{"X-Ratelimit-Reset": {"tomorrow"}}, 0, false},
		{"reset ignored on 503", 503, http.Header{"X-Ratelimit-Reset": {reset}}, 0, false},
		{"nothing", 429, http.Header{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RetryAfter(&http.Response{StatusCode: tc.code, Header: tc.h}, raNow)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("RetryAfter() = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if _, ok := RetryAfter(nil, raNow); ok {
		t.Error("RetryAfter(nil) reported a hint")
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "3", "120", "-1", "1.5", "99999999999999999999",
		"Thu, 26 Nov 2026 12:00:30 GMT", "Thursday, 26-Nov-26 12:01:00 GMT", "Thu Nov 26 12:00:10 2026", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, raNow)
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v: negative", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, false: rejected values must be zero", v, d)
		}
		if ok {
			if _, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err != nil && d == 0 {
				t.Fatalf("ParseRetryAfter(%q) accepted a date that is not in the future", v)
			}
		}
	})
}
