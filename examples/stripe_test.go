package examples_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stripe/stripe-go/v82"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/retry"
)

// stripeRespond answers like the Stripe API: fail (with status and error
// code) for the first failures requests, then the customer created. Status
// 0 fails by closing the connection without an answer.
func stripeRespond(failures, status int, code string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", fmt.Sprintf("req_%d", n))
		if n <= failures && status == 0 {
			// A network error: the connection closes before any answer.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		if n <= failures {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","code":%q,"message":"failed: %s"}}`, code, code)
			return
		}
		fmt.Fprint(w, `{"id":"cus_1","object":"customer","email":"jenny@example.com"}`)
	}
}

// stripeClient returns a stripe-go client over httpClient against baseURL.
// maxRetries nil keeps stripe-go's default (2); sleep false skips its
// waits between retries (at least 500ms each) to keep the tests fast.
func stripeClient(httpClient *http.Client, baseURL string, maxRetries *int64, sleep bool) *stripe.Client {
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		HTTPClient:        httpClient,
		URL:               stripe.String(baseURL),
		MaxNetworkRetries: maxRetries,
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	backends.API.(*stripe.BackendImplementation).SetNetworkRetriesSleep(sleep)
	return stripe.NewClient("sk_test_123", stripe.WithBackends(backends))
}

func createCustomer(sc *stripe.Client) (*stripe.Customer, error) {
	return sc.V1Customers.Create(context.Background(), &stripe.CustomerCreateParams{
		Email:       stripe.String("jenny@example.com"),
		Description: stripe.String("a customer & friends"),
	})
}

// Example_stripeRetriesOff is recipe A for stripe-go: turn the SDK's
// retries off and let the stack retry. stripe-go retries twice by default
// network errors and a 429 lock_timeout (a Stripe error body with any other
// status or code, a 500 included, is not retried), sleeping at least 500ms
// and ignoring Retry-After; under the stack one such call would reach
// Stripe up to 9 times. stripe-go gives every POST an Idempotency-Key,
// which the stack's retries resend unchanged, so that a connection lost
// after the request was written is retried safely.
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{})
//	if err != nil { ... }
//	sc := stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
//		HTTPClient:        httpClient,
//		MaxNetworkRetries: stripe.Int64(0), // the stack retries
//	})))
func Example_stripeRetriesOff() {
	api := startAPI(stripeRespond(2, http.StatusInternalServerError, "api_error"))
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	sc := stripeClient(httpClient, api.URL, stripe.Int64(0), true)
	customer, err := createCustomer(sc)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s after %d requests\n", customer.ID, api.Count())
	// Output: cus_1 after 3 requests
}

// Example_stripeOursOff is recipe B for stripe-go: keep its retries and
// send each of its attempts once, with a policy of one attempt for that
// client (the breaker, timeouts and tracing stay):
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
//		Default: transport.Policy{Retry: retry.Policy{MaxAttempts: 1}},
//	})
//	sc := stripe.NewClient(key, stripe.WithBackends(stripe.NewBackends(httpClient)))
//
// stripe-go then waits its own backoff (0.5–5 s) between attempts.
func Example_stripeOursOff() {
	api := startAPI(stripeRespond(2, http.StatusTooManyRequests, "lock_timeout"))
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
		Default: transport.Policy{Retry: retry.Policy{MaxAttempts: 1}},
	})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	sc := stripeClient(httpClient, api.URL, nil, false) // stripe-go's default retries, without its sleeps
	customer, err := createCustomer(sc)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s after %d requests\n", customer.ID, api.Count())
	// Output: cus_1 after 3 requests
}

// TestStripeStackedRetries measures the problem: stripe-go's retries
// (3 attempts, for a 429 lock_timeout or a lost connection) times ours.
// Other Stripe errors (a 500 or a plain 429 rate limit with an error body)
// are not retried by stripe-go, so only ours repeat them.
func TestStripeStackedRetries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
		want   int
	}{
		{"429 lock_timeout", http.StatusTooManyRequests, "lock_timeout", 9},
		{"connection closed", 0, "", 9},
		{"500", http.StatusInternalServerError, "api_error", 3},
		{"429 rate_limit", http.StatusTooManyRequests, "rate_limit", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPI(t, stripeRespond(100, tc.status, tc.code))
			var err error
			timed(t, api, "stripe-go default × stack default, "+tc.name, func() {
				_, err = createCustomer(stripeClient(wrap(t, fast), api.URL, nil, false))
			})
			if got := api.Count(); got != tc.want {
				t.Errorf("hits = %d, want %d", got, tc.want)
			}
			if tc.status == 0 {
				if err == nil {
					t.Error("error = nil, want the lost connection's")
				}
				return
			}
			var stripeErr *stripe.Error
			if !errors.As(err, &stripeErr) || stripeErr.HTTPStatusCode != tc.status || string(stripeErr.Code) != tc.code {
				t.Errorf("error = %v, want *stripe.Error %d %s", err, tc.status, tc.code)
			}
		})
	}
}

// TestStripeRecipes counts each recipe's hits for a 429 lock_timeout that
// never clears.
func TestStripeRecipes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rp         retry.Policy
		maxRetries *int64
		want       int
	}{
		{"A: SDK retries off, ours on", fast, stripe.Int64(0), 3},
		{"B: SDK retries on, ours one attempt", retry.Policy{MaxAttempts: 1}, nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPI(t, stripeRespond(100, http.StatusTooManyRequests, "lock_timeout"))
			var err error
			timed(t, api, "stripe-go "+tc.name+", 429 lock_timeout", func() {
				_, err = createCustomer(stripeClient(wrap(t, tc.rp), api.URL, tc.maxRetries, false))
			})
			if got := api.Count(); got != tc.want {
				t.Errorf("hits = %d, want %d", got, tc.want)
			}
			var stripeErr *stripe.Error
			if !errors.As(err, &stripeErr) || stripeErr.Code != stripe.ErrorCodeLockTimeout {
				t.Errorf("error = %v, want *stripe.Error lock_timeout", err)
			}
		})
	}
}

// TestStripeClientErrorsOnce checks that 4xx go out once through the stack
// (recipe A) and stripe-go still builds its *stripe.Error.
func TestStripeClientErrorsOnce(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{
		{http.StatusBadRequest, "parameter_missing"},
		{http.StatusPaymentRequired, "card_declined"},
		{http.StatusNotFound, "resource_missing"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			api := newAPI(t, stripeRespond(100, tc.status, tc.code))
			_, err := createCustomer(stripeClient(wrap(t, fast), api.URL, stripe.Int64(0), false))
			if got := api.Count(); got != 1 {
				t.Errorf("hits = %d, want 1", got)
			}
			var stripeErr *stripe.Error
			if !errors.As(err, &stripeErr) {
				t.Fatalf("error = %T %v, want *stripe.Error", err, err)
			}
			if stripeErr.HTTPStatusCode != tc.status || string(stripeErr.Code) != tc.code || stripeErr.RequestID != "req_1" {
				t.Errorf("stripe.Error = %d %s %s, want %d %s req_1", stripeErr.HTTPStatusCode, stripeErr.Code, stripeErr.RequestID, tc.status, tc.code)
			}
		})
	}
}

// TestStripeBodiesReplayed checks that our retries resend stripe-go's form
// body byte-identical, with the same Idempotency-Key (recipe A).
func TestStripeBodiesReplayed(t *testing.T) {
	api := newAPI(t, stripeRespond(2, http.StatusServiceUnavailable, "api_error"))
	customer, err := createCustomer(stripeClient(wrap(t, fast), api.URL, stripe.Int64(0), false))
	if err != nil {
		t.Fatal(err)
	}
	if customer.ID != "cus_1" {
		t.Errorf("customer = %q, want cus_1", customer.ID)
	}
	hits := api.Hits()
	if len(hits) != 3 {
		t.Fatalf("hits = %d, want 3", len(hits))
	}
	api.sameBodies(t)
	key := hits[0].Header.Get("Idempotency-Key")
	for i, h := range hits {
		if got := h.Header.Get("Idempotency-Key"); key == "" || got != key {
			t.Errorf("Idempotency-Key of attempt %d = %q, want %q (attempt 1's, non-empty)", i+1, got, key)
		}
	}
}

// TestStripeShouldRetryFalse checks that a 500 with Stripe-Should-Retry:
// false is sent once with our retries on (recipe A), as stripe-go itself
// would; with true, a 500 is retried as usual.
func TestStripeShouldRetryFalse(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"false", 1},
		{"true", 3},
	} {
		t.Run(tc.header, func(t *testing.T) {
			api := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Stripe-Should-Retry", tc.header)
				stripeRespond(100, http.StatusInternalServerError, "api_error")(w, r, n)
			})
			_, err := createCustomer(stripeClient(wrap(t, fast), api.URL, stripe.Int64(0), false))
			if got := api.Count(); got != tc.want {
				t.Errorf("hits = %d, want %d", got, tc.want)
			}
			var stripeErr *stripe.Error
			if !errors.As(err, &stripeErr) || stripeErr.HTTPStatusCode != http.StatusInternalServerError {
				t.Errorf("error = %v, want *stripe.Error 500", err)
			}
		})
	}
}
