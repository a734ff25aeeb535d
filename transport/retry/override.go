package retry

import "context"

type maxAttemptsKey struct{}

// WithMaxAttempts returns a copy of ctx that makes a [Transport] serving a
// request with this context make at most n attempts, the first included,
// in place of its policy's MaxAttempts: one call can turn retries off
// (n = 1; any n below 1 counts as 1) or allow more of them, through the
// same client. The policy's other bounds (MaxElapsed, MaxRetryAfter, the
// budget, the context's deadline) still hold.
//
// The Transport reads the override only once a first attempt has failed
// retryably (or, with Policy.Hedge or Policy.BufferBody on, before the
// first attempt, to decide whether to hedge or to buffer the body), so a
// request that succeeds pays nothing for it.
func WithMaxAttempts(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, maxAttemptsKey{}, n)
}

// maxAttempts returns the attempt limit a call set in ctx with
// [WithMaxAttempts], if it set one.
func maxAttempts(ctx context.Context) (int, bool) {
	n, ok := ctx.Value(maxAttemptsKey{}).(int)
	return n, ok
}
