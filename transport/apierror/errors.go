package apierror

import "errors"

// Sentinel errors matched by an [*Error] through [errors.Is], one per
// status family of the partner-API contract.
var (
	// ErrBadRequest matches 400 Bad Request: invalid input that fails the
	// same way if sent again.
	ErrBadRequest = errors.New("apierror: bad request")
	// ErrInsufficientCredits matches 402 Payment Required. Clients should
	// stop submitting new work until credits are replenished.
	ErrInsufficientCredits = errors.New("apierror: insufficient credits")
	// ErrNotFound matches 404 Not Found.
	ErrNotFound = errors.New("apierror: not found")
	// ErrValidation matches 422 Unprocessable Content (a validation error
	// whose field errors are in [Error.Violations]).
	ErrValidation = errors.New("apierror: validation failed")
	// ErrRateLimited matches 429 Too Many Requests.
	ErrRateLimited = errors.New("apierror: rate limited")
	// ErrServerError matches every 5xx status.
	ErrServerError = errors.New("apierror: server error")
)

// sentinelFor returns the sentinel matching status, or nil.
func sentinelFor(status int) error {
	switch {
	case status == 400:
		return ErrBadRequest
	case status == 402:
		return ErrInsufficientCredits
	case status == 404:
		return ErrNotFound
	case status == 422:
		return ErrValidation
	case status == 429:
		return ErrRateLimited
	case status >= 500 && status < 600:
		return ErrServerError
	}
	return nil
}
