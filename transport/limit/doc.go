// Package limit is an http.RoundTripper that bounds how many requests are
// in flight at once per key (a host, or a route of a host): at most
// [Policy.Max] go at once, the next ones queue, in order of arrival, for at
// most [Policy.MaxWait], and a request still queued then is refused with
// an [*Error], not sent. A hedge (an attempt whose [errclass.Attempt] says
// Hedge) never queues: with no free slot it is refused at once.
//
// A request holds its slot from the moment it is sent until its response
// body ends: read to io.EOF, failed, or closed. A request that fails
// without a response, or whose RoundTripper below panics or breaks the
// contract with (nil, nil), gives its slot back at once. As an unread,
// unclosed body holds its connection, it holds its slot: close every body.
//
// A request whose context ends while it is queued returns the context's
// error; nothing is sent. Either way the request's body is closed.
//
// # Adaptive limits
//
// With [Policy.Adaptive] the limit of each key moves between
// [Policy.MinLimit] and Max, by additive increase and multiplicative
// decrease (AIMD, as TCP's congestion window and Netflix's
// concurrency-limits): it starts at Max, rises by one for every limit's
// worth of successful responses, and halves when a response says the
// server is in trouble (a server fault or a timeout, as the breaker counts
// them, or a 429). Only a request sent after the last decrease can halve
// the limit again, so a burst of failures from one overloaded moment
// halves it once, not once per failure. A [Policy.Classifier] (the
// stack's, or [errclass.Classify]) labels each outcome.
//
// # Cost
//
// While a slot is free and no one queues, a request costs one lock to take
// its slot and one to give it back, a lookup of its key (lock-free,
// allocation-free) and, with a body, one allocation for the body's
// watcher; a response with no body (http.NoBody) allocates nothing. The
// clock is read only by requests that queue. With Adaptive, each response
// is also classified (allocation-free for the default classifier).
//
// # Placement
//
// Below the pacer (a request waiting for a throttle window holds no slot)
// and above the attempt timeout (a request's time in the queue is not its
// attempt's time). [Policy.OnWait] and [Policy.OnRefuse] tell tracing and
// metrics.
package limit
