// Package timeout is an http.RoundTripper that bounds a request until its
// response headers arrive, without cutting the body read afterwards, and
// cuts a body that stops arriving.
//
// A context deadline cannot do this: it goes on ticking while the caller
// reads the body, and cuts it. So [Policy.Headers] is a timer that cancels
// the request's context and is stopped as soon as headers are in; the
// context itself is released when the body is read to its end or closed.
// [Policy.BodyIdle] bounds each wait for a byte of the body, and only
// while a Read waits: a caller that is slow between reads is not cut.
//
// # Errors
//
// A cut fails with an [*Error]. Through errors.Is it matches [ErrHeaders]
// or [ErrBodyIdle], by kind of bound, and context.DeadlineExceeded, so that
// classifiers (errclass.Classify) see a timeout, retried when the request
// is safe to repeat, rather than the caller's cancellation; it never
// matches context.Canceled. It is a net.Error whose Timeout reports true,
// and so reads as a timeout to errors.As(err, &netErr), and, through the
// retry layer's error, to http.Client's *url.Error and os.IsTimeout. A policy may name its bound with a sentinel of
// its own ([Policy.HeadersErr], [Policy.BodyIdleErr]), which the errors
// match too, to tell two timeout layers of one chain apart: the transport
// package's stack uses transport.ErrAttemptTimeout, transport.ErrTimeout
// and transport.ErrBodyIdleTimeout that way. When the caller's context
// ends as the bound fires, the caller's reason is reported, wrapping the
// cut.
//
// # Placement
//
// Two places make sense, and a chain may use both:
//
//   - Per attempt, at the bottom, just above the base transport (below
//     retry and the circuit breaker): Headers bounds each attempt, so a
//     silent server costs one attempt, not the whole call, and the breaker
//     counts the cut as a failure; BodyIdle guards streams and downloads.
//   - Over the whole request, above retry, with Headers and
//     ReportDeadline: one bound over every attempt and every wait between
//     them. ReportDeadline shows the bound to the layers below as their
//     context's deadline, so retry does not start a wait that cannot end
//     in time; the body of the final response is still not cut by it.
//
// transport.NewStack places both from a policy's AttemptTimeout,
// BodyIdleTimeout and Timeout; a chain of your own places them with
// [Middleware], for instance
//
//	transport.Chain(base,
//		timeout.Middleware(timeout.Policy{Headers: 30 * time.Second, ReportDeadline: true}),
//		retry.Middleware(retry.Policy{}),
//		timeout.Middleware(timeout.Policy{Headers: 10 * time.Second, BodyIdle: time.Minute}),
//	)
//
// # Cost
//
// The zero [Policy] sets no bound: requests pass through untouched and
// nothing is allocated. A Headers bound costs three allocations per
// request (a cancelable context, the request's copy carrying it, the body
// wrapper; its timer is pooled), four with ReportDeadline; BodyIdle adds a
// timer per response.
package timeout
