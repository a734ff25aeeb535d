// Package errclass is the one place that interprets the outcome of an HTTP
// attempt.
//
// [Classify] turns a (*http.Response, error) pair into an [Outcome]: a
// [Class] (success, retryable, permanent, canceled), whether the server may
// have processed the request ([Delivery]) and the server's Retry-After hint.
// Retry, circuit-breaking and tracing layers all ask a [Classifier] rather
// than keeping private rules about status codes, so replacing the classifier
// changes every layer at once.
//
// Decoding an error body into a typed error is package apierror's job: the
// layers read status codes and headers, never a body.
//
// It also holds the small vocabulary the layers share without importing one
// another: a [Refusal] is an error of a layer that refused to send a request
// (an open breaker), [AttemptFromContext] tells a layer below retry which
// attempt it serves, an [Observer] in the context hears retry's decisions
// (observers compose, as httptrace's do) and, when retry gives up, a
// [StopReason], [ErrInvalidRequest] is every layer's answer to a request
// that cannot be sent, and [ErrNilResponse] names the fault of a RoundTripper that returned
// neither a response nor an error.
//
// The package has no dependencies beyond the standard library and does not
// allocate when classifying a successful response.
package errclass
