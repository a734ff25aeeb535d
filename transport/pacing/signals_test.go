package pacing

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var now0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func fixed() *clock { return &clock{now: func() time.Time { return now0 }} }

func TestSignal(t *testing.T) {
	epoch := func(d time.Duration) string { return strconv.FormatInt(now0.Add(d).Unix(), 10) }
	tests := []struct {
		name   string
		status int
		h      map[string]string
		want   time.Duration // 0: no window
	}{
		{"no headers", 200, nil, 0},
		{"429 Retry-After seconds", 429, map[string]string{"Retry-After": "2"}, 2 * time.Second},
		{"503 Retry-After date", 503, map[string]string{"Retry-After": now0.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"200 Retry-After ignored", 200, map[string]string{"Retry-After": "5"}, 0},
		{"429 Retry-After malformed", 429, map[string]string{"Retry-After": "-1"}, 0},
		{"RateLimit r=0 t=30", 200, map[string]string{"RateLimit": `"default";r=0;t=30`}, 30 * time.Second},
		{"RateLimit r=5 t=30", 200, map[string]string{"RateLimit": `"default";r=5;t=30`}, 0},
		{"RateLimit token name", 200, map[string]string{"RateLimit": `default;r=0;t=7`}, 7 * time.Second},
		{"RateLimit longest of two", 200, map[string]string{"RateLimit": `"a";r=0;t=3, "b";r=0;t=40, "c";r=9;t=99`}, 40 * time.Second},
		{"RateLimit no t: policy w", 200, map[string]string{"RateLimit": `"day";r=0`, "RateLimit-Policy": `"min";q=10;w=60, "day";q=1000;w=86400`}, maxSignal},
		{"RateLimit no t: policy w 60", 200, map[string]string{"RateLimit": `"min";r=0`, "RateLimit-Policy": `"min";q=10;w=60`}, time.Minute},
		{"RateLimit no t, no policy", 200, map[string]string{"RateLimit": `"min";r=0`}, 0},
		{"RateLimit malformed", 200, map[string]string{"RateLimit": `"default";r=0;t=30,`}, 0},
		{"RateLimit unterminated string", 200, map[string]string{"RateLimit": `"default;r=0;t=30`}, 0},
		{"RateLimit draft dictionary", 200, map[string]string{"RateLimit": `limit=100, remaining=0, reset=12`}, 12 * time.Second},
		{"RateLimit draft dictionary left", 200, map[string]string{"RateLimit": `limit=100, remaining=3, reset=12`}, 0},
		{"RateLimit decimal t", 200, map[string]string{"RateLimit": `"d";r=0;t=2.5`}, 2 * time.Second},
		{"RateLimit huge t capped", 200, map[string]string{"RateLimit": `"d";r=0;t=999999999999999`}, maxSignal},
		{"legacy zero delta", 200, map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "3"}, 3 * time.Second},
		{"legacy left", 200, map[string]string{"RateLimit-Remaining": "1", "RateLimit-Reset": "3"}, 0},
		{"legacy no remaining, 200", 200, map[string]string{"RateLimit-Reset": "3"}, 0},
		{"legacy no remaining, 429", 429, map[string]string{"RateLimit-Reset": "3"}, 3 * time.Second},
		{"X- epoch", 200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(45 * time.Second)}, 45 * time.Second},
		{"X- epoch past", 200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(-45 * time.Second)}, 0},
		{"X- fraction", 200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1.25"}, 1250 * time.Millisecond},
		{"X- a year of seconds is delta (capped)", 200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "31536000"}, maxSignal},
		{"X- malformed", 200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3s"}, 0},
		{"X- remaining malformed", 200, map[string]string{"X-RateLimit-Remaining": "none", "X-RateLimit-Reset": "3"}, 0},
		{"longest of all", 429, map[string]string{"Retry-After": "2", "RateLimit": `"d";r=0;t=5`, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4"}, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			for k, v := range tc.h {
				resp.Header.Set(k, v)
			}
			got, ok := signal(resp, fixed())
			if ok != (tc.want > 0) || got != tc.want {
				t.Errorf("signal() = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
}

// Reading RateLimit headers that open no window allocates nothing.
func TestSignalAllocs(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Header: http.Header{}}
	resp.Header.Set("RateLimit", `"default";r=57;t=30`)
	resp.Header.Set("RateLimit-Policy", `"default";q=100;w=60`)
	resp.Header.Set("X-RateLimit-Remaining", "57")
	resp.Header.Set("X-RateLimit-Reset", "30")
	if n := testing.AllocsPerRun(100, func() { signal(resp, fixed()) }); n != 0 {
		t.Errorf("signal allocates %v times, want 0", n)
	}
}

func FuzzSignal(f *testing.F) {
	for _, s := range []string{
		`"default";r=0;t=30`, `"default";q=100;w=60`, `default;r=0`, `limit=100, remaining=0, reset=30`,
		`"a";r=0;t=3, "b";r=0;t=40`, `"x";r=?1;t=:YWJj:`, `"x";r=-0;t=@1700000000`, `"\"q\\";r=0;t=1`,
		`"d";r=0;t=2.5`, `*;r=0;t=1`, ``, `,`, `"`, `;`, `a=`, `1700000000`, `2`, `Wed, 21 Oct 2015 07:28:00 GMT`,
	} {
		f.Add(s, s, "0", s)
	}
	f.Fuzz(func(t *testing.T, rl, policy, remaining, reset string) {
		for _, status := range []int{200, 429, 503} {
			resp := &http.Response{StatusCode: status, Header: http.Header{
				"Ratelimit": {rl}, "Ratelimit-Policy": {policy},
				"Retry-After": {reset}, "X-Ratelimit-Remaining": {remaining}, "X-Ratelimit-Reset": {reset},
				"Ratelimit-Remaining": {remaining}, "Ratelimit-Reset": {rl},
			}}
			d, ok := signal(resp, fixed())
			if ok != (d > 0) || d > maxSignal {
				t.Fatalf("signal() = %v, %v: want 0 < d <= maxSignal, or false", d, ok)
			}
		}
		n := 0
		var m member
		l := list{p: sfParser{s: rl}}
		for l.next(&m) {
			n++
		}
		if n > maxMembers {
			t.Fatalf("list handed on %d members, want <= %d", n, maxMembers)
		}
	})
}

// The list parser hands on at most maxMembers members but still checks the
// rest of the field. Mutation: dropping the bound, or stopping the syntax
// check at the bound, fails.
func TestListBounds(t *testing.T) {
	long := strings.Repeat(`"a";r=1, `, 30) + `"z";r=0;t=5`
	for _, tc := range []struct {
		v    string
		n    int
		bad  bool
		wait time.Duration
	}{
		{long, maxMembers, false, 0}, // the spent member is past the bound
		{long + ",", maxMembers, true, 0},
		{`"z";r=0;t=5, ` + long, maxMembers, false, 5 * time.Second},
		{strings.Repeat(" ", maxField+1), 0, true, 0},
	} {
		n := 0
		var m member
		l := list{p: sfParser{s: tc.v}}
		for l.next(&m) {
			n++
		}
		if n != tc.n || l.bad != tc.bad {
			t.Errorf("list(%.20q…): %d members, bad %v; want %d, %v", tc.v, n, l.bad, tc.n, tc.bad)
		}
		if d := rateLimitField(tc.v, nil); d != tc.wait {
			t.Errorf("rateLimitField(%.20q…) = %v, want %v", tc.v, d, tc.wait)
		}
	}
}
