package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemoStory runs the demo as a newcomer would and checks that each step
// of the story behaves as the demo says it does.
func TestDemoStory(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run() error = %v\n%s", err, out.String())
	}
	got := out.String()
	// The README shows the demo's metrics summary: its lines must be the
	// demo's (they hold no address, so they are the same on every run).
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, shown, ok := strings.Cut(string(readme), "\nmetrics:\n")
	shown, _, _ = strings.Cut(shown, "```")
	if !ok || strings.TrimSpace(shown) == "" {
		t.Error("README.md shows no metrics summary of the demo")
	}
	for line := range strings.Lines(shown) {
		if !strings.Contains(got, line) {
			t.Errorf("README.md shows the demo printing %q; it does not", line)
		}
	}
	sections := strings.Split(got, "\n\n")[1:]
	if len(sections) == len(story)+1 { // the metrics summary closes the run
		if !strings.Contains(sections[len(story)], "resilient.client.fast_fails: type=*breaker.OpenError 2, type=*credits.Error 2, type=*pacing.Error 1") {
			t.Errorf("metrics summary lacks the fast fails:\n%s", sections[len(story)])
		}
		sections = sections[:len(story)]
	}
	if len(sections) != len(story) {
		t.Fatalf("demo printed %d sections, want %d:\n%s", len(sections), len(story), got)
	}
	want := map[string]struct {
		attempts int
		patterns []string
	}{
		"submit an enhancement batch (rate limited once)": {2, []string{
			`attempt 1 · 429 · retryable · server asks to wait 1s`, `attempt 2 · after 1s \(Retry-After\) · 202 · success`,
			`✓ 202 Accepted .*\(the API received 2\)`, `trace [0-9a-f]{8} · POST /v1/enhancements · 202 · 2 attempt\(s\)`,
			`"imports_remaining":1`, `◔ POST http://127\.0\.0\.1:\d+/v1/enhancements: 1 credit\(s\) left`,
			// Issue 16: the stack's key, the same on both attempts.
			`Idempotency-Key on 2 of 2 requests, 1 distinct`}},
		"fetch the job's results (two server errors first)": {3, []string{
			`attempt 1 · 500 · retryable · "Internal Server Error"`, `attempt 3 · after \d+ms \(backoff\) · 200 · success`,
			`trace [0-9a-f]{8} · GET /v1/jobs/\{id\}/results · 200 · 3 attempt`}},
		"submit a batch with a person missing a name": {1, []string{
			`✗ 422 .*body\.persons\[0\]\.name: Field required`,
			`field body\.persons\[0\]\.name: Field required \(missing, input \{"email":"a@example.org"\}\)`,
			`attempt 1 · 422 · permanent · "body.persons\[0\].name: Field required"`}},
		"create a list whose name is taken": {1, []string{`✗ 400 Bad Request .*A list named "VIP donors" already exists`}},
		// Issue 13 item 2: the last batch's response says 0 are left, and
		// the latch holds the next submit back before any 402.
		"submit another batch (its response says no credits remain)": {1, []string{
			`✓ 202 Accepted .*"imports_remaining":0`,
			`◔ POST http://127\.0\.0\.1:\d+/v1/enhancements: 0 credit\(s\) left`,
			`⛔ credits POST http://127\.0\.0\.1:\d+/v1/enhancements: latched`}},
		"submit again at once (latched before any 402)": {1, []string{
			`refused, nothing sent: \*credits.Error`, `the API received 0`,
			`latched: a response reported no credits left; not sent`, `stop submitting batches`}},
		"fetching results still works while submits are latched": {1, []string{`✓ 200 OK`}},
		// Spent elsewhere: no response warned this client, so the 402 latches.
		"submit another batch (no credits left, and nothing said so)": {1, []string{
			`✗ 402 Payment Required.*Insufficient credits`, `stop submitting batches`, `attempt 1 · 402 · permanent`,
			`⛔ credits POST http://127\.0\.0\.1:\d+/v1/enhancements: latched`}},
		"submit again at once (the 402 latch holds it back)": {1, []string{
			`refused, nothing sent: \*credits.Error`, `the API received 0`, `latched after 402 Payment Required`, `stop submitting batches`}},
		"fetch an unknown job": {1, []string{`✗ 404 Not Found`}},
		"poll progress (server asks for an hour's pause)": {1, []string{
			`server asks to wait 1h0m0s`, `✗ 429 Too Many Requests in (<1ms|\d+ms)`, `gave up: retry_after_too_long`}},
		// Issue 15: the hour's window holds this route back (route scope in
		// policies.json), and only this route: the next steps still reach
		// the API.
		"poll progress again: paced, refused without asking": {1, []string{
			`the API received 0`, `refused, nothing sent: \*pacing.Error`, `hold back`}},
		"fetch results during the outage": {3, []string{`attempt 3 .*503`, `✗ 503 Service Unavailable`, `gave up: attempts_exhausted`}},
		"fetch again: the breaker opens mid-request": {3, []string{
			`attempt 2 · .*503`, `attempt 3 · .*refused, nothing sent: \*breaker.OpenError`,
			`⚡ breaker http://127\.0\.0\.1:\d+: closed → open`,
			`the API received 2`, `retry: 3 attempts: breaker: circuit`}},
		"fetch again: refused at once, nothing sent": {1, []string{`the API received 0`, `is open; next probe in`, `refused, nothing sent`}},
		"fetch again: a probe goes through and closes the breaker": {1, []string{
			`attempt 1 · 200 · success`, `open → half-open`, `half-open → closed`, `✓ 200 OK`}},
	}
	actions := map[string]string{
		"credits are topped up by one batch; the client releases its latch": `⛔ credits POST http://127\.0\.0\.1:\d+/v1/enhancements: released`,
	}
	for i, s := range story {
		sec := sections[i]
		if s.action != nil {
			if !strings.HasPrefix(sec, "~ "+s.what) {
				t.Errorf("step %d: %q, want the action %q", i+1, sec, s.what)
			}
			if p, ok := actions[s.what]; ok && !regexp.MustCompile(p).MatchString(sec) {
				t.Errorf("step %d (%s): output lacks %q:\n%s", i+1, s.what, p, sec)
			}
			continue
		}
		if s.what == "submit again at once (latched before any 402)" {
			if m := regexp.MustCompile(`✗ 402|· 402 ·`).FindString(strings.Join(sections[:i+1], "\n")); m != "" {
				t.Errorf("step %d (%s): a 402 came before (%q); the latch should have anticipated it", i+1, s.what, m)
			}
		}
		w, ok := want[s.what]
		if !ok {
			t.Errorf("step %d (%s) has no expectation in this test", i+1, s.what)
			continue
		}
		if n := len(regexp.MustCompile(`(├─|└─) attempt \d`).FindAllString(sec, -1)); n != w.attempts {
			t.Errorf("step %d (%s): %d attempts, want %d:\n%s", i+1, s.what, n, w.attempts, sec)
		}
		for _, p := range w.patterns {
			if !regexp.MustCompile(p).MatchString(sec) {
				t.Errorf("step %d (%s): output lacks %q:\n%s", i+1, s.what, p, sec)
			}
		}
	}
}
