package errclass

import "errors"

// ErrInvalidRequest is matched, through errors.Is, by the error every layer
// of this module returns for a request it cannot send at all: nil, or
// without a URL. Nothing is sent; the request's body, if any, is closed.
// Each layer wraps it with its own name, e.g. "breaker: invalid request:
// nil request or URL", so the message says where the request was refused
// while errors.Is(err, ErrInvalidRequest) holds for all of them.
var ErrInvalidRequest = errors.New("invalid request")
