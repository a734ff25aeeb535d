package examples_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
)

// openaiCompletion is the smallest chat completion openai-go decodes.
const openaiCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-5-mini",` +
	`"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hello"}}]}`

// openaiRespond answers like the OpenAI API: fail (with status and error
// code) for the first failures requests, then a completion. Retry-After is
// 0 so that the SDK's and our waits cost nothing but the backoff.
func openaiRespond(failures, status int, code string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		if n <= failures {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":"failed: %s","type":"requests","param":null,"code":%q}}`, code, code)
			return
		}
		fmt.Fprint(w, openaiCompletion)
	}
}

// openaiFirstSDKAttemptsFail answers 429 to openai-go's first two attempts
// (X-Stainless-Retry-Count 0 and 1), however often each is sent, and a
// completion to its third: the hits count how often each was sent.
func openaiFirstSDKAttemptsFail(w http.ResponseWriter, r *http.Request, n int) {
	failures := 0
	if c := r.Header.Get("X-Stainless-Retry-Count"); c == "0" || c == "1" {
		failures = n
	}
	openaiRespond(failures, http.StatusTooManyRequests, "rate_limit_exceeded")(w, r, n)
}

// chat sends one chat completion through an openai-go client over
// httpClient with the given options.
func chat(httpClient *http.Client, baseURL string, opts ...option.RequestOption) (*openai.ChatCompletion, error) {
	opts = append([]option.RequestOption{
		option.WithHTTPClient(httpClient),
		option.WithBaseURL(baseURL + "/v1/"),
		option.WithAPIKey("sk-test"),
	}, opts...)
	client := openai.NewClient(opts...)
	return client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-5-mini", // any model name: the emulated API ignores it
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
	})
}

// Example_openaiRetriesOff is recipe A for openai-go: turn the SDK's own
// retries off and let the stack retry. openai-go retries 408, 409, 429 and
// 5xx twice by default, honouring Retry-After; under the stack, which
// retries three times, one call would reach the server up to 9 times.
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{})
//	if err != nil { ... }
//	client := openai.NewClient(
//		option.WithHTTPClient(httpClient),
//		option.WithMaxRetries(0), // the stack retries: with budget, breaker and Retry-After cap
//	)
//
// A call the server rate-limits twice is now sent exactly three times, the
// stack's attempts.
func Example_openaiRetriesOff() {
	api := startAPI(openaiRespond(2, http.StatusTooManyRequests, "rate_limit_exceeded"))
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	completion, err := chat(httpClient, api.URL, option.WithMaxRetries(0))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s after %d requests\n", completion.Choices[0].Message.Content, api.Count())
	// Output: hello after 3 requests
}

// Example_openaiOursOff is recipe B for openai-go: keep the SDK's retries
// and send each of its attempts once, with a policy of one attempt for
// that client (the breaker, timeouts and tracing stay):
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
//		Default: transport.Policy{Retry: retry.Policy{MaxAttempts: 1}},
//	})
//	client := openai.NewClient(option.WithHTTPClient(httpClient)) // openai-go retries, 3 attempts
func Example_openaiOursOff() {
	api := startAPI(openaiFirstSDKAttemptsFail) // each of the SDK's attempts would be sent 3 times by our default policy
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
		Default: transport.Policy{Retry: retry.Policy{MaxAttempts: 1}},
	})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	completion, err := chat(httpClient, api.URL)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s after %d requests\n", completion.Choices[0].Message.Content, api.Count())
	// Output: hello after 3 requests
}

// TestOpenAIStackedRetries measures the problem: openai-go's retries
// (3 attempts) times ours (3) for a 429 that never clears.
func TestOpenAIStackedRetries(t *testing.T) {
	api := newAPI(t, openaiRespond(100, http.StatusTooManyRequests, "rate_limit_exceeded"))
	var err error
	timed(t, api, "openai-go default × stack default, 429", func() {
		_, err = chat(wrap(t, fast), api.URL)
	})
	if got := api.Count(); got != 9 {
		t.Errorf("hits = %d, want 9 (3 SDK attempts × 3 of ours)", got)
	}
	// The SDK numbers its attempts; each of ours repeats the SDK's number.
	var counts []string
	for _, h := range api.Hits() {
		counts = append(counts, h.Header.Get("X-Stainless-Retry-Count"))
	}
	if got, want := fmt.Sprint(counts), "[0 0 0 1 1 1 2 2 2]"; got != want {
		t.Errorf("X-Stainless-Retry-Count per hit = %s, want %s", got, want)
	}
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Errorf("error = %v, want *openai.Error with status 429", err)
	}
}

// TestOpenAIRecipes counts the hits of each recipe against a 429 that
// never clears.
func TestOpenAIRecipes(t *testing.T) {
	for _, tc := range []struct {
		name string
		rp   retry.Policy
		opts []option.RequestOption
		want int
	}{
		{"A: SDK retries off, ours on", fast, []option.RequestOption{option.WithMaxRetries(0)}, 3},
		{"B: SDK retries on, ours one attempt", retry.Policy{MaxAttempts: 1}, nil, 3},
		{"both off", retry.Policy{MaxAttempts: 1}, []option.RequestOption{option.WithMaxRetries(0)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPI(t, openaiRespond(100, http.StatusTooManyRequests, "rate_limit_exceeded"))
			var err error
			timed(t, api, "openai-go "+tc.name+", 429", func() {
				_, err = chat(wrap(t, tc.rp), api.URL, tc.opts...)
			})
			if got := api.Count(); got != tc.want {
				t.Errorf("hits = %d, want %d", got, tc.want)
			}
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Code != "rate_limit_exceeded" {
				t.Errorf("error = %v, want *openai.Error 429 rate_limit_exceeded", err)
			}
		})
	}
}

// TestOpenAIClientErrorsOnce checks that 4xx go out once through the stack
// (recipe A) and openai-go still builds its *openai.Error from the body.
func TestOpenAIClientErrorsOnce(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			api := newAPI(t, openaiRespond(100, status, "invalid_request"))
			_, err := chat(wrap(t, fast), api.URL, option.WithMaxRetries(0))
			if got := api.Count(); got != 1 {
				t.Errorf("hits = %d, want 1", got)
			}
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %T %v, want *openai.Error", err, err)
			}
			if apiErr.StatusCode != status || apiErr.Code != "invalid_request" || apiErr.Message != "failed: invalid_request" {
				t.Errorf("openai.Error = %d %q %q, want %d invalid_request", apiErr.StatusCode, apiErr.Code, apiErr.Message, status)
			}
		})
	}
}

// TestOpenAIBodiesReplayed checks that our retries resend openai-go's JSON
// body byte-identical (recipe A: only ours retry, so every hit is ours).
func TestOpenAIBodiesReplayed(t *testing.T) {
	api := newAPI(t, openaiRespond(2, http.StatusInternalServerError, "server_error"))
	completion, err := chat(wrap(t, fast), api.URL, option.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	if completion.Choices[0].Message.Content != "hello" {
		t.Errorf("content = %q, want hello", completion.Choices[0].Message.Content)
	}
	if got := api.Count(); got != 3 {
		t.Errorf("hits = %d, want 3", got)
	}
	api.sameBodies(t)
}

// Example_openaiStainless is recipe B for a client that openai-go shares
// with plain requests: leave to the SDK only the requests it sends, which
// carry X-Stainless-Retry-Count on every attempt, and retry the others:
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
//		Default: transport.Policy{Retry: retry.Policy{SDKRetries: retry.StainlessSDK}},
//	}) // in a policy file: "retry": {"sdk_retries": "stainless"}
//	client := openai.NewClient(option.WithHTTPClient(httpClient)) // openai-go retries
//
// The same holds for any SDK generated by Stainless.
func Example_openaiStainless() {
	api := startAPI(openaiFirstSDKAttemptsFail) // each of the SDK's attempts would be sent 3 times by our default policy
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
		Default: transport.Policy{Retry: retry.Policy{SDKRetries: retry.StainlessSDK}},
	})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	completion, err := chat(httpClient, api.URL)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s after %d requests\n", completion.Choices[0].Message.Content, api.Count())
	// Output: hello after 3 requests
}

// TestOpenAIStainlessShared checks that one stack with sdk_retries
// "stainless" (from a policy file) leaves openai-go's requests to openai-go
// and still retries plain requests through the same client.
func TestOpenAIStainlessShared(t *testing.T) {
	cfg, err := transport.ParseConfig([]byte(`{"default": {"retry": {"sdk_retries": "stainless", "base_delay": "1ms", "max_delay": "2ms"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	httpClient, err := transport.NewClient(&http.Client{Transport: base}, cfg)
	if err != nil {
		t.Fatal(err)
	}

	api := newAPI(t, openaiRespond(100, http.StatusTooManyRequests, "rate_limit_exceeded"))
	timed(t, api, "openai-go default × stack sdk_retries stainless, 429", func() {
		_, err = chat(httpClient, api.URL)
	})
	if got := api.Count(); got != 3 {
		t.Errorf("openai-go hits = %d, want 3 (the SDK's attempts only)", got)
	}
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Errorf("error = %v, want *openai.Error 429", err)
	}

	plain := newAPI(t, openaiRespond(100, http.StatusTooManyRequests, "rate_limit_exceeded"))
	resp, err := httpClient.Get(plain.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := plain.Count(); got != 3 {
		t.Errorf("plain request hits = %d, want 3 (our attempts)", got)
	}
}

// TestOpenAIShouldRetryFalse checks that a 500 with x-should-retry: false,
// which openai-go obeys, is sent once with our retries on (recipe A).
func TestOpenAIShouldRetryFalse(t *testing.T) {
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("X-Should-Retry", "false")
		openaiRespond(100, http.StatusInternalServerError, "server_error")(w, r, n)
	})
	_, err := chat(wrap(t, fast), api.URL, option.WithMaxRetries(0))
	if got := api.Count(); got != 1 {
		t.Errorf("hits = %d, want 1", got)
	}
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusInternalServerError {
		t.Errorf("error = %v, want *openai.Error 500", err)
	}
}

// TestOpenAIRefusalsAs503 checks that, with RefusalsAs503, a request the
// open breaker refuses reaches openai-go as a 503 it turns into its own
// *openai.Error (the marker and Retry-After readable on its Response),
// not as a network error, and that nothing reaches the server.
func TestOpenAIRefusalsAs503(t *testing.T) {
	api := newAPI(t, openaiRespond(100, http.StatusInternalServerError, "server_error"))
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	httpClient, err := transport.NewClient(&http.Client{Transport: base}, transport.Config{Default: transport.Policy{
		Retry:         retry.Policy{MaxAttempts: 1},
		Breaker:       breaker.Policy{ConsecutiveFailures: 1, OpenTimeout: time.Minute},
		RefusalsAs503: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chat(httpClient, api.URL, option.WithMaxRetries(0)); err == nil {
		t.Fatal("first call: error = nil, want the server's 500")
	}
	_, err = chat(httpClient, api.URL, option.WithMaxRetries(0))
	if got := api.Count(); got != 1 {
		t.Errorf("hits = %d, want 1 (the refused call sends nothing)", got)
	}
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable || apiErr.Response == nil {
		t.Fatalf("refused call: error = %T %v, want *openai.Error 503", err, err)
	}
	if got := apiErr.Response.Header.Get(errclass.RefusedHeader); got != "breaker" {
		t.Errorf("%s = %q, want breaker", errclass.RefusedHeader, got)
	}
	if got := apiErr.Response.Header.Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After = %q, want 60 (the breaker's open time)", got)
	}
}

// TestOpenAIRetryAfter checks that under recipe A our retry waits the
// server's Retry-After (1s, where our backoff alone would wait about
// 2ms) before sending the call again: the hint openai-go would have
// honoured is not lost when the stack retries instead.
func TestOpenAIRetryAfter(t *testing.T) {
	api := newAPI(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
			return
		}
		fmt.Fprint(w, openaiCompletion)
	})
	if _, err := chat(wrap(t, fast), api.URL, option.WithMaxRetries(0)); err != nil {
		t.Fatal(err)
	}
	hits := api.Hits()
	if len(hits) != 2 {
		t.Fatalf("hits = %d, want 2", len(hits))
	}
	if gap := hits[1].At.Sub(hits[0].At); gap < time.Second {
		t.Errorf("retry sent %v after the 429 with Retry-After: 1, want at least 1s", gap)
	}
}
