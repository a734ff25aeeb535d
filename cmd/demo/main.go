// Command demo runs a fake partner API on 127.0.0.1 and calls it through a
// resilient client, printing every request and every attempt: a 429 whose
// Retry-After is honoured, a 500 burst that retries absorb, validation and
// credit errors that are never retried, and a Retry-After too long to wait.
//
//	go run ./cmd/demo
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// call is one request of the demo's story.
type call struct {
	what   string
	method string
	path   string
	body   string
}

var story = []call{
	{"submit an enhancement batch (rate limited once)", http.MethodPost, "/v1/enhancements",
		`{"persons":[{"name":"Ada Lovelace"},{"name":"Alan Turing"}]}`},
	{"fetch the job's results (two server errors first)", http.MethodGet, "/v1/jobs/job_1/results", ""},
	{"submit a batch with a person missing a name", http.MethodPost, "/v1/enhancements",
		`{"persons":[{"email":"a@example.org"}]}`},
	{"create a list whose name is taken", http.MethodPost, "/v1/lists", `{"name":"VIP donors"}`},
	{"submit another batch (no credits left)", http.MethodPost, "/v1/enhancements",
		`{"persons":[{"name":"Grace Hopper"}]}`},
	{"fetch an unknown job", http.MethodGet, "/v1/jobs/job_404/results", ""},
	{"poll progress (server asks for an hour's pause)", http.MethodGet, "/v1/jobs/job_1/progress", ""},
}

func run(w io.Writer) error {
	api, err := startFakeAPI()
	if err != nil {
		return err
	}
	defer api.Close()

	// Any existing client works; Wrap returns a copy with the layers added.
	base := &http.Client{Timeout: 30 * time.Second}
	client := transport.Wrap(base,
		retry.Middleware(retry.Policy{BaseDelay: 50 * time.Millisecond}),
		printAttempts(w), // below retry: runs once per attempt
	)
	defer client.CloseIdleConnections()

	fmt.Fprintf(w, "fake partner API on %s\n", api.URL)
	for _, c := range story {
		if err := do(w, client, api.URL, c); err != nil {
			return err
		}
	}
	return nil
}

func do(w io.Writer, client *http.Client, baseURL string, c call) error {
	fmt.Fprintf(w, "\n%s %s — %s\n", c.method, c.path, c.what)
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, baseURL+c.path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(w, "  ✗ no response: %v\n", err)
		return nil
	}
	defer resp.Body.Close()
	elapsed := roundDuration(time.Since(start))

	if apiErr := errclass.Decode(resp); apiErr != nil {
		fmt.Fprintf(w, "  ✗ %s in %s: %v\n", resp.Status, elapsed, apiErr)
		explain(w, apiErr)
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  ✓ %s in %s: %s\n", resp.Status, elapsed, strings.TrimSpace(string(b)))
	return nil
}

// roundDuration keeps durations readable: "<1ms", "3ms", "1.01s".
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// explain says what a caller does about each kind of error.
func explain(w io.Writer, err error) {
	var apiErr *errclass.APIError
	switch {
	case errors.Is(err, errclass.ErrValidation) && errors.As(err, &apiErr):
		for _, v := range apiErr.Violations {
			fmt.Fprintf(w, "    field %s: %s (%s, input %s)\n", v.Loc, v.Msg, v.Type, v.Input)
		}
	case errors.Is(err, errclass.ErrInsufficientCredits):
		fmt.Fprintln(w, "    → stop submitting batches until credits are replenished")
	case errors.Is(err, errclass.ErrRateLimited):
		fmt.Fprintln(w, "    → the wait asked for is longer than the policy allows; try again later")
	}
}

// printAttempts is a layer placed below retry, so it sees every attempt.
func printAttempts(w io.Writer) transport.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			a := retry.AttemptFromContext(req.Context())
			resp, err := next.RoundTrip(req)
			out := errclass.Classify(req, resp, err)

			line := fmt.Sprintf("  attempt %d", a.Number)
			if a.Number > 1 {
				why := "backoff"
				if a.FromRetryAfter {
					why = "Retry-After"
				}
				line += fmt.Sprintf(" (after %s, %s)", roundDuration(a.Delay), why)
			}
			if err != nil {
				line += fmt.Sprintf(": error %v", err)
			} else {
				line += ": " + resp.Status
			}
			line += " → " + out.Class.String()
			if out.RetryAfter > 0 {
				line += fmt.Sprintf(", server asks to wait %v", out.RetryAfter)
			}
			fmt.Fprintln(w, line)
			return resp, err
		})
	}
}
