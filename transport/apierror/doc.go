// Package apierror turns an HTTP error response into a typed Go error.
//
// [Decode] reads a response with a status of 400 or more into an [*Error]
// that understands the shapes APIs send: {"detail": "text"}, the
// FastAPI/Pydantic validation list (a 422 whose field errors become
// [Error.Violations]) and RFC 9457 problem documents. The error works with
// [errors.Is] against one sentinel per status family ([ErrBadRequest],
// [ErrInsufficientCredits], [ErrValidation], [ErrRateLimited], ...), and the
// response body stays readable by the caller after Decode.
//
// It is separate from package errclass on purpose: errclass decides what
// the layers do with an outcome (retry it, count it against a breaker) and
// reads only headers and status codes, never a body; apierror is for the
// caller, once the layers are done, to learn what the server said.
package apierror
