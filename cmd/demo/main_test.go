package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemoStory runs the demo as a newcomer would and checks that each
// request of the story behaves as the demo says it does.
func TestDemoStory(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run() error = %v\n%s", err, out.String())
	}
	got := out.String()
	sections := strings.Split(got, "\n\n")
	if len(sections) != len(story)+1 {
		t.Fatalf("demo printed %d sections, want %d:\n%s", len(sections), len(story)+1, got)
	}
	want := []struct {
		attempts int
		patterns []string
	}{
		{2, []string{`attempt 2 \(after 1s, Retry-After\): 202 Accepted`, `✓ 202 Accepted`}},
		{3, []string{`attempt 1: 500 .*retryable`, `attempt 3 \(after \d+ms, backoff\): 200 OK`, `✓ 200 OK`}},
		{1, []string{`✗ 422 .*body\.persons\[0\]\.name: Field required`, `field body\.persons\[0\]\.name: Field required \(missing, input \{"email":"a@example.org"\}\)`}},
		{1, []string{`✗ 400 Bad Request .*A list named "VIP donors" already exists`}},
		{1, []string{`✗ 402 Payment Required.*Insufficient credits`, `stop submitting batches`}},
		{1, []string{`✗ 404 Not Found`}},
		{1, []string{`server asks to wait 1h0m0s`, `✗ 429 Too Many Requests in (<1ms|\d+ms)`}},
	}
	for i, w := range want {
		sec := sections[i+1]
		if n := strings.Count(sec, "  attempt "); n != w.attempts {
			t.Errorf("request %d (%s): %d attempts, want %d:\n%s", i+1, story[i].what, n, w.attempts, sec)
		}
		for _, p := range w.patterns {
			if !regexp.MustCompile(p).MatchString(sec) {
				t.Errorf("request %d (%s): output lacks %q:\n%s", i+1, story[i].what, p, sec)
			}
		}
	}
}
