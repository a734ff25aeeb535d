package examples_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/retry"
)

// slackRespond answers like the Slack Web API: status (with Retry-After:
// 0) for the first failures requests, then a posted message. Slack reports
// most errors as 200 {"ok":false}: okFalse sends that instead of the message.
func slackRespond(failures, status int, okFalse string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		if n <= failures {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if okFalse != "" {
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, okFalse)
			return
		}
		fmt.Fprint(w, `{"ok":true,"channel":"C1","ts":"1700000000.000100"}`)
	}
}

// post sends one chat.postMessage through a slack-go client over
// httpClient, with extra options after the client's.
func post(httpClient *http.Client, baseURL string, opts ...slack.Option) (string, error) {
	opts = append([]slack.Option{slack.OptionHTTPClient(httpClient), slack.OptionAPIURL(baseURL + "/api/")}, opts...)
	_, ts, err := slack.New("xoxb-test", opts...).PostMessage("C1", slack.MsgOptionText("hello & welcome", false))
	return ts, err
}

// slackServerErrors is an OptionRetryConfig that retries 5xx and 429 with
// millisecond backoff (a 429 still waits at least 1s: slack-go's floor).
var slackServerErrors = slack.RetryConfig{
	MaxRetries:     2,
	Handlers:       []slack.RetryHandler{slack.NewServerErrorRetryHandler(slack.RetryConfig{}), slack.NewRateLimitErrorRetryHandler(slack.RetryConfig{})},
	BackoffInitial: time.Millisecond,
	BackoffMax:     2 * time.Millisecond,
}

// Example_slackRetriesOff is recipe A for slack-go: its retries are off
// unless you pass slack.OptionRetry or slack.OptionRetryConfig, so leave
// them out and let the stack retry:
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{})
//	if err != nil { ... }
//	api := slack.New(token, slack.OptionHTTPClient(httpClient)) // no OptionRetry
//
// Slack reports most failures as 200 {"ok":false,"error":...}: those are
// answers, never retried, and slack-go still returns them as a
// slack.SlackErrorResponse.
func Example_slackRetriesOff() {
	api := startAPI(slackRespond(2, http.StatusServiceUnavailable, ""))
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	ts, err := post(httpClient, api.URL)
	if err != nil {
		panic(err)
	}
	fmt.Printf("posted %s after %d requests\n", ts, api.Count())
	// Output: posted 1700000000.000100 after 3 requests
}

// Example_slackOursOff is recipe B for slack-go: keep the retries you gave
// it and send each of its attempts once, with a policy of one attempt for
// that client. slack.OptionRetry must come after slack.OptionHTTPClient,
// which it wraps:
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
//		Default: transport.Policy{Retry: retry.Policy{MaxAttempts: 1}},
//	})
//	api := slack.New(token, slack.OptionHTTPClient(httpClient), slack.OptionRetry(2))
func Example_slackOursOff() {
	api := startAPI(slackRespond(2, http.StatusServiceUnavailable, ""))
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
		Default: transport.Policy{Retry: retry.Policy{MaxAttempts: 1}},
	})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	// slack.OptionRetry retries 429 only; this config also retries 5xx.
	ts, err := post(httpClient, api.URL, slack.OptionRetryConfig(slackServerErrors))
	if err != nil {
		panic(err)
	}
	fmt.Printf("posted %s after %d requests\n", ts, api.Count())
	// Output: posted 1700000000.000100 after 3 requests
}

// TestSlackStackedRetries measures the problem when slack-go's retries are
// turned on: its attempts times ours.
func TestSlackStackedRetries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		opt    slack.Option
		want   int
	}{
		{"503, OptionRetryConfig(2 retries of 5xx)", http.StatusServiceUnavailable, slack.OptionRetryConfig(slackServerErrors), 9},
		// slack-go waits at least 1s before retrying a 429: one retry only.
		{"429, OptionRetry(1)", http.StatusTooManyRequests, slack.OptionRetry(1), 6},
		{"429, no OptionRetry", http.StatusTooManyRequests, func(*slack.Client) {}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPI(t, slackRespond(100, tc.status, ""))
			var err error
			timed(t, api, "slack-go "+tc.name+" × stack default", func() {
				_, err = post(wrap(t, fast), api.URL, tc.opt)
			})
			if got := api.Count(); got != tc.want {
				t.Errorf("hits = %d, want %d", got, tc.want)
			}
			if err == nil {
				t.Error("error = nil, want the SDK's error for the last status")
			}
		})
	}
}

// TestSlackRecipes counts each recipe's hits for a 503 that never clears,
// and checks the typed errors slack-go builds.
func TestSlackRecipes(t *testing.T) {
	for _, tc := range []struct {
		name string
		rp   retry.Policy
		opts []slack.Option
		want int
	}{
		{"A: SDK retries off, ours on", fast, nil, 3},
		{"B: SDK retries on, ours one attempt", retry.Policy{MaxAttempts: 1}, []slack.Option{slack.OptionRetryConfig(slackServerErrors)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPI(t, slackRespond(100, http.StatusServiceUnavailable, ""))
			var err error
			timed(t, api, "slack-go "+tc.name+", 503", func() {
				_, err = post(wrap(t, tc.rp), api.URL, tc.opts...)
			})
			if got := api.Count(); got != tc.want {
				t.Errorf("hits = %d, want %d", got, tc.want)
			}
			var statusErr slack.StatusCodeError
			if !errors.As(err, &statusErr) || statusErr.Code != http.StatusServiceUnavailable {
				t.Errorf("error = %v, want slack.StatusCodeError 503", err)
			}
		})
	}
}

// TestSlackErrorsOnce checks that Slack's {"ok":false} answers and 4xx go
// out once (recipe A) and slack-go still builds its own errors.
func TestSlackErrorsOnce(t *testing.T) {
	t.Run("ok false", func(t *testing.T) {
		api := newAPI(t, slackRespond(0, 0, "channel_not_found"))
		_, err := post(wrap(t, fast), api.URL)
		var slackErr slack.SlackErrorResponse
		if !errors.As(err, &slackErr) || slackErr.Err != "channel_not_found" {
			t.Errorf("error = %T %v, want slack.SlackErrorResponse channel_not_found", err, err)
		}
		if got := api.Count(); got != 1 {
			t.Errorf("hits = %d, want 1", got)
		}
	})
	t.Run("404", func(t *testing.T) {
		api := newAPI(t, slackRespond(100, http.StatusNotFound, ""))
		_, err := post(wrap(t, fast), api.URL)
		var statusErr slack.StatusCodeError
		if !errors.As(err, &statusErr) || statusErr.Code != http.StatusNotFound {
			t.Errorf("error = %T %v, want slack.StatusCodeError 404", err, err)
		}
		if got := api.Count(); got != 1 {
			t.Errorf("hits = %d, want 1", got)
		}
	})
	t.Run("429 after our retries", func(t *testing.T) {
		api := newAPI(t, slackRespond(100, http.StatusTooManyRequests, ""))
		_, err := post(wrap(t, fast), api.URL)
		var rateErr *slack.RateLimitedError
		if !errors.As(err, &rateErr) {
			t.Errorf("error = %T %v, want *slack.RateLimitedError", err, err)
		}
		if got := api.Count(); got != 3 {
			t.Errorf("hits = %d, want 3", got)
		}
	})
}

// TestSlackBodiesReplayed checks that our retries resend slack-go's form
// body byte-identical (recipe A).
func TestSlackBodiesReplayed(t *testing.T) {
	api := newAPI(t, slackRespond(2, http.StatusBadGateway, ""))
	if _, err := post(wrap(t, fast), api.URL); err != nil {
		t.Fatal(err)
	}
	if got := api.Count(); got != 3 {
		t.Errorf("hits = %d, want 3", got)
	}
	api.sameBodies(t)
}
