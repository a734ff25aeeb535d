// Package bench compares resilient with a bare transport and with the peer
// libraries users reach for, configured as equivalently as they allow: at
// most 3 retries (4 attempts), the same short backoff, 429/5xx retried, the
// breaker tripping after 5 consecutive failures. It is its own module, so
// the peers never enter the library's dependency graph.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/gojek/heimdall/v7"
	"github.com/gojek/heimdall/v7/hystrix"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// Doer sends a request: an *http.Client, or a peer's own client type.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Peer builds a client of one library over a base transport.
type Peer struct {
	Name string
	// Retries and Breaks say what the peer is configured to do, for the
	// behaviour table.
	Retries, Breaks bool
	New             func(base http.RoundTripper) Doer
}

// Shared settings, as close as each library allows.
const (
	maxRetries   = 3
	baseDelay    = time.Millisecond
	maxDelay     = 10 * time.Millisecond
	tripAfter    = 5
	openDuration = time.Minute
)

var commandSeq atomic.Int64

// partnerConfig is a stack configuration with a policy per partner-API
// endpoint, all p, so that the stack rows include routing: the benchmark
// cases call GET /v1/jobs/{id} and POST /v1/enhancements.
func partnerConfig(p transport.Policy) transport.Config {
	cfg := transport.Config{Default: p, Endpoints: map[string]transport.Policy{}}
	for _, pattern := range []string{
		"POST /v1/enhancements", "GET /v1/jobs/{id}", "GET /v1/jobs/{id}/results",
		"POST /v1/lists", "DELETE /v1/lists/{id}",
	} {
		cfg.Endpoints[pattern] = p
	}
	return cfg
}

// noTimeouts turns p's timeouts off, so that a row measures the layers
// without the timers the default timeouts add (a row of its own).
func noTimeouts(p transport.Policy) transport.Policy {
	p.AttemptTimeout, p.Timeout, p.BodyIdleTimeout = transport.NoTimeout, transport.NoTimeout, transport.NoTimeout
	return p
}

// Peers returns every contender; tp is the recording tracer provider for
// the rows that trace (nil leaves those rows out).
func Peers(tp trace.TracerProvider) []Peer {
	rp := retry.Policy{MaxAttempts: maxRetries + 1, BaseDelay: baseDelay, MaxDelay: maxDelay}
	bp := breaker.Policy{ConsecutiveFailures: tripAfter, OpenTimeout: openDuration}
	peers := []Peer{
		{Name: "bare", New: func(base http.RoundTripper) Doer { return &http.Client{Transport: base} }},
		// A reference, not a peer: what any cancelable per-request context
		// costs, inside net/http too.
		{Name: "bare + Client.Timeout", New: func(base http.RoundTripper) Doer {
			return &http.Client{Transport: base, Timeout: 10 * time.Second}
		}},
		{Name: "resilient retry+breaker", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			return &http.Client{Transport: transport.Chain(base, retry.Middleware(rp), breaker.Middleware(bp))}
		}},
		{Name: "resilient stack (no-op tracing)", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			c, err := transport.NewClient(&http.Client{Transport: base}, partnerConfig(noTimeouts(transport.Policy{Retry: rp, Breaker: bp})))
			if err != nil {
				panic(err)
			}
			return c
		}},
		{Name: "resilient stack (default timeouts)", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			c, err := transport.NewClient(&http.Client{Transport: base}, partnerConfig(transport.Policy{Retry: rp, Breaker: bp}))
			if err != nil {
				panic(err)
			}
			return c
		}},
		{Name: "hand-written gobreaker+backoff", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			return &http.Client{Transport: newHandWritten(base)}
		}},
		{Name: "go-retryablehttp", Retries: true, New: newRetryableHTTP},
		{Name: "failsafe-go", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			return newFailsafe(base, openDuration)
		}},
		{Name: "heimdall (hystrix)", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			return hystrix.NewClient(
				hystrix.WithCommandName(fmt.Sprintf("bench-%d", commandSeq.Add(1))),
				hystrix.WithHTTPClient(&http.Client{Transport: base}),
				hystrix.WithRetryCount(maxRetries),
				hystrix.WithRetrier(heimdall.NewRetrier(heimdall.NewConstantBackoff(baseDelay, 0))),
				hystrix.WithHystrixTimeout(10*time.Second),
				hystrix.WithMaxConcurrentRequests(1000),
				hystrix.WithRequestVolumeThreshold(tripAfter),
				hystrix.WithErrorPercentThreshold(50),
				hystrix.WithSleepWindow(int(openDuration/time.Millisecond)),
			)
		}},
		{Name: "otelhttp (no-op)", New: func(base http.RoundTripper) Doer {
			return &http.Client{Transport: otelhttp.NewTransport(base)}
		}},
	}
	if tp != nil {
		peers = append(peers,
			Peer{Name: "resilient stack (recording)", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
				cfg := partnerConfig(noTimeouts(transport.Policy{Retry: rp, Breaker: bp}))
				cfg.Tracing.TracerProvider = tp
				c, err := transport.NewClient(&http.Client{Transport: base}, cfg)
				if err != nil {
					panic(err)
				}
				return c
			}},
			Peer{Name: "otelhttp (recording)", New: func(base http.RoundTripper) Doer {
				return &http.Client{Transport: otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tp))}
			}},
			// What users combine today for retries and traces.
			Peer{Name: "go-retryablehttp + otelhttp (recording)", Retries: true, New: func(base http.RoundTripper) Doer {
				return newRetryableHTTP(otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tp)))
			}},
		)
	}
	return peers
}

// handWritten is what users write today: a gobreaker around each attempt
// and cenkalti/backoff between attempts; it drains discarded bodies but
// knows nothing of Retry-After or idempotency.
type handWritten struct {
	next http.RoundTripper
	cb   *gobreaker.TwoStepCircuitBreaker[*http.Response]
}

func newHandWritten(next http.RoundTripper) *handWritten {
	return newHandWrittenOpen(next, openDuration)
}

// newHandWrittenOpen is newHandWritten with breakers open for open.
func newHandWrittenOpen(next http.RoundTripper, open time.Duration) *handWritten {
	return &handWritten{next: next, cb: gobreaker.NewTwoStepCircuitBreaker[*http.Response](gobreaker.Settings{
		Timeout:     open,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= tripAfter },
	})}
}

// newRetryableHTTP is go-retryablehttp as the peers configure it: at most
// maxRetries retries, baseDelay–maxDelay backoff, no logging.
func newRetryableHTTP(base http.RoundTripper) Doer {
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: base}
	rc.RetryMax = maxRetries
	rc.RetryWaitMin, rc.RetryWaitMax = baseDelay, maxDelay
	rc.Logger = nil
	return rc.StandardClient()
}

// newFailsafe is failsafe-go as the peers configure it, its breaker open
// for open after tripAfter failures.
func newFailsafe(base http.RoundTripper, open time.Duration) Doer {
	rpol := failsafehttp.NewRetryPolicyBuilder().WithMaxRetries(maxRetries).WithBackoff(baseDelay, maxDelay).Build()
	cb := circuitbreaker.NewBuilder[*http.Response]().
		HandleIf(func(r *http.Response, err error) bool { return err != nil || r != nil && r.StatusCode >= 500 }).
		WithFailureThreshold(tripAfter).WithDelay(open).Build()
	return &http.Client{Transport: failsafehttp.NewRoundTripper(base, rpol, cb)}
}

var errServer = errors.New("server error")

func (h *handWritten) RoundTrip(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	op := func() error {
		done, err := h.cb.Allow()
		if err != nil {
			return backoff.Permanent(err)
		}
		r := req
		if req.GetBody != nil && resp != nil { // a retry: fresh body
			body, err := req.GetBody()
			if err != nil {
				done(err)
				return backoff.Permanent(err)
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		if resp != nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		resp, err = h.next.RoundTrip(r)
		if err != nil {
			done(err)
			return err
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			done(errServer)
			return errServer
		}
		done(nil)
		return nil
	}
	b := backoff.WithContext(backoff.WithMaxRetries(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(baseDelay), backoff.WithMaxInterval(maxDelay)), maxRetries), req.Context())
	err := backoff.Retry(op, b)
	if errors.Is(err, errServer) && resp != nil {
		return resp, nil
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	return resp, nil
}

// ctxDoer bounds a peer's request with a timeout (some peers would sleep
// for a server's hour-long Retry-After).
func ctxDo(d Doer, req *http.Request, timeout time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	resp, err := d.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	b, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	cancel()
	resp.Body = io.NopCloser(bytesReader(b))
	return resp, rerr
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
