package examples_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/retry"
)

// sqsRespond answers SendMessage like Amazon SQS (AWS JSON 1.0 protocol):
// status with an error of type code for the first failures requests, then
// the message id with the body's MD5, which the SDK checks.
func sqsRespond(failures, status int, code string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessage" {
			http.Error(w, "unexpected operation", http.StatusBadRequest)
			return
		}
		if n <= failures {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"__type":"com.amazonaws.sqs#%s","message":"failed: %s"}`, code, code)
			return
		}
		var in struct{ MessageBody string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		sum := md5.Sum([]byte(in.MessageBody))
		fmt.Fprintf(w, `{"MessageId":"m-%d","MD5OfMessageBody":%q}`, n, hex.EncodeToString(sum[:]))
	}
}

// noBackoff makes the SDK's standard retryer retry at once, to keep the
// tests fast (its default waits up to 1s, 2s, ... with full jitter).
func noBackoff(o *awsretry.StandardOptions) {
	o.Backoff = awsretry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
}

// sendMessage sends one SQS message through a client over httpClient;
// retryer nil keeps the SDK's standard retryer (3 attempts), without its
// backoff.
func sendMessage(httpClient *http.Client, baseURL string, retryer aws.Retryer) (*sqs.SendMessageOutput, error) {
	if retryer == nil {
		retryer = awsretry.NewStandard(noBackoff)
	}
	client := sqs.New(sqs.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(baseURL),
		HTTPClient:   httpClient,
		Retryer:      retryer,
	})
	return client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl:    aws.String(baseURL + "/123456789012/jobs"),
		MessageBody: aws.String(`{"job":"resize","id":42}`),
	})
}

// Example_awsOursOff is the recipe for the AWS SDK for Go v2: keep the
// SDK's retries and send each of its attempts once, with a policy of one
// attempt for that client (the breaker, timeouts and tracing stay):
//
//	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
//		Default: transport.Policy{Retry: retry.Policy{MaxAttempts: 1}},
//	})
//	cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(httpClient))
//	client := sqs.NewFromConfig(cfg) // the SDK retries: 3 attempts, signed anew each time
//
// Why the SDK's retries rather than ours: every AWS call with a body
// reaches the stack without GetBody, which the stack replays only when
// Retry.BufferBody lets it buffer the body (recipe A: aws.NopRetryer and
// BufferBody: 64 << 10 also makes 3 attempts), and each SDK attempt is
// signed again (SigV4) and numbered (amz-sdk-request), which a copy made by
// the stack is not.
func Example_awsOursOff() {
	// 503 for the SDK's first two attempts, however often each is sent.
	api := startAPI(func(w http.ResponseWriter, r *http.Request, n int) {
		failures := 0
		if !strings.HasPrefix(r.Header.Get("Amz-Sdk-Request"), "attempt=3;") {
			failures = n
		}
		sqsRespond(failures, http.StatusServiceUnavailable, "ServiceUnavailable")(w, r, n)
	})
	defer api.Close()

	httpClient, err := transport.NewClient(&http.Client{}, transport.Config{
		Default: transport.Policy{Retry: retry.Policy{MaxAttempts: 1}},
	})
	if err != nil {
		panic(err)
	}
	defer httpClient.CloseIdleConnections()
	out, err := sendMessage(httpClient, api.URL, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s after %d requests\n", aws.ToString(out.MessageId), api.Count())
	// Output: m-3 after 3 requests
}

// TestAWSStackedRetries measures the default combination: the SDK's
// retries (3 attempts) under our default policy. Our retries never add
// to them, because the SDK's request bodies have no GetBody: each attempt
// goes out once, and our layer skips its retries silently.
func TestAWSStackedRetries(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		status     int
	}{
		{"503", "ServiceUnavailable", http.StatusServiceUnavailable},
		{"400 ThrottlingException", "ThrottlingException", http.StatusBadRequest},
		{"429", "TooManyRequests", http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPI(t, sqsRespond(100, tc.status, tc.code))
			var err error
			timed(t, api, "aws-sdk-go-v2 default × stack default, "+tc.name, func() {
				_, err = sendMessage(wrap(t, fast), api.URL, nil)
			})
			if got := api.Count(); got != 3 {
				t.Errorf("hits = %d, want 3 (the SDK's attempts; ours cannot replay its body)", got)
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.code {
				t.Errorf("error = %v, want smithy.APIError %s", err, tc.code)
			}
		})
	}
}

// TestAWSRecipes counts each combination's hits for a 503 that never
// clears. Turning the SDK's retries off leaves one attempt unless
// Retry.BufferBody makes the SDK's bodies, which have no GetBody,
// replayable.
func TestAWSRecipes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rp      retry.Policy
		retryer aws.Retryer
		want    int
	}{
		{"SDK retries off (NopRetryer), ours on: nothing retries", fast, aws.NopRetryer{}, 1},
		{"SDK retries off (max attempts 1), ours on: nothing retries", fast, awsretry.AddWithMaxAttempts(awsretry.NewStandard(), 1), 1},
		{"A: SDK retries off, ours on with BufferBody", retry.Policy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, BufferBody: 64 << 10}, aws.NopRetryer{}, 3},
		{"B: SDK retries on, ours one attempt", retry.Policy{MaxAttempts: 1}, nil, 3},
		{"B: SDK with 5 attempts, ours one attempt", retry.Policy{MaxAttempts: 1}, awsretry.AddWithMaxAttempts(awsretry.NewStandard(noBackoff), 5), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPI(t, sqsRespond(100, http.StatusServiceUnavailable, "ServiceUnavailable"))
			var err error
			timed(t, api, "aws-sdk-go-v2 "+tc.name+", 503", func() {
				_, err = sendMessage(wrap(t, tc.rp), api.URL, tc.retryer)
			})
			if got := api.Count(); got != tc.want {
				t.Errorf("hits = %d, want %d", got, tc.want)
			}
			api.sameBodies(t) // BufferBody's replays included
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ServiceUnavailable" {
				t.Errorf("error = %v, want smithy.APIError ServiceUnavailable", err)
			}
		})
	}
}

// TestAWSClientErrorsOnce checks that a 4xx goes out once and the SDK
// still builds its modeled error, which is a smithy.APIError.
func TestAWSClientErrorsOnce(t *testing.T) {
	api := newAPI(t, sqsRespond(100, http.StatusBadRequest, "QueueDoesNotExist"))
	_, err := sendMessage(wrap(t, fast), api.URL, nil)
	if got := api.Count(); got != 1 {
		t.Errorf("hits = %d, want 1", got)
	}
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Errorf("error = %T %v, want *types.QueueDoesNotExist", err, err)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "QueueDoesNotExist" || apiErr.ErrorFault() != smithy.FaultClient {
		t.Errorf("error = %v, want smithy.APIError QueueDoesNotExist (client fault)", err)
	}
}

// TestAWSBodiesReplayed checks that the SDK's attempts reach the server
// byte-identical through the stack (recipe B), each signed and numbered anew.
func TestAWSBodiesReplayed(t *testing.T) {
	api := newAPI(t, sqsRespond(2, http.StatusInternalServerError, "InternalError"))
	out, err := sendMessage(wrap(t, retry.Policy{MaxAttempts: 1}), api.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.MessageId); got != "m-3" {
		t.Errorf("MessageId = %q, want m-3", got)
	}
	hits := api.Hits()
	if len(hits) != 3 {
		t.Fatalf("hits = %d, want 3", len(hits))
	}
	api.sameBodies(t)
	for i, h := range hits {
		if got, want := h.Header.Get("Amz-Sdk-Request"), fmt.Sprintf("attempt=%d; max=3", i+1); got != want {
			t.Errorf("amz-sdk-request of hit %d = %q, want %q", i+1, got, want)
		}
		if h.Header.Get("Authorization") == "" {
			t.Errorf("hit %d is not signed", i+1)
		}
	}
}

// TestAWSBufferBodyPrepareRetry is recipe A's second half: with the SDK's
// retries off, BufferBody replays the body and PrepareRetry renumbers
// each of our attempts as the SDK would (re-signing goes there too), on
// the attempt's copy: every hit carries the same body and its own number.
func TestAWSBufferBodyPrepareRetry(t *testing.T) {
	api := newAPI(t, sqsRespond(2, http.StatusServiceUnavailable, "ServiceUnavailable"))
	rp := fast
	rp.BufferBody = 64 << 10
	rp.PrepareRetry = func(req *http.Request, attempt int) error {
		req.Header.Set("Amz-Sdk-Request", fmt.Sprintf("attempt=%d; max=%d", attempt, 3))
		return nil
	}
	out, err := sendMessage(wrap(t, rp), api.URL, aws.NopRetryer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.MessageId); got != "m-3" {
		t.Errorf("MessageId = %q, want m-3", got)
	}
	api.sameBodies(t)
	hits := api.Hits()
	for i, h := range hits {
		if got, want := h.Header.Get("Amz-Sdk-Request"), fmt.Sprintf("attempt=%d;", i+1); !strings.HasPrefix(got, want) {
			t.Errorf("amz-sdk-request of hit %d = %q, want %q…", i+1, got, want)
		}
	}
	if len(hits) != 3 {
		t.Errorf("hits = %d, want 3", len(hits))
	}
}
