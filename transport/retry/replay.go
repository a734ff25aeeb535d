package retry

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
)

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// replayBody returns a fresh copy of req's body for another attempt.
func replayBody(req *http.Request) (io.ReadCloser, error) {
	if req.GetBody == nil {
		return req.Body, nil // nil or http.NoBody: nothing to replay
	}
	return req.GetBody()
}

// bufferBody returns a copy of req, whose body has no GetBody, that can
// be sent again: its body read into memory, with a GetBody, when it holds
// at most limit bytes. A longer body is read no further than limit+1
// bytes, and the copy sends those and the rest as one body, once; so does
// a body whose Read fails, followed by the failure. A body known to be
// longer (by its ContentLength) is not read: req comes back as it is.
// The read ahead ends when req's context does: the body is then closed,
// as net/http closes a body it is sending when the context ends, so that
// a body that stalls (an io.Pipe whose writer waits) cannot hold the
// request past its deadline.
func bufferBody(req *http.Request, limit int64) *http.Request {
	if req.ContentLength > limit {
		return req
	}
	limit = min(limit, math.MaxInt64-1) // limit+1 must not overflow
	body := req.Body
	stop := context.AfterFunc(req.Context(), func() { body.Close() })
	buf, err := io.ReadAll(io.LimitReader(body, limit+1))
	if !stop() && err == nil {
		// Closed under the read: what was read may be cut short.
		err = context.Cause(req.Context())
	}
	r := new(http.Request)
	*r = *req // shallow: only Body, GetBody and ContentLength change
	if err != nil || int64(len(buf)) > limit {
		var rest io.Reader = body
		if err != nil {
			rest = failingReader{err}
		}
		r.Body = &joined{Reader: io.MultiReader(bytes.NewReader(buf), rest), body: body}
		return r
	}
	body.Close() // all read: the RoundTripper contract has us close it
	if len(buf) == 0 {
		r.Body = http.NoBody
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	} else {
		r.Body = io.NopCloser(bytes.NewReader(buf))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	}
	if r.ContentLength <= 0 && len(r.TransferEncoding) == 0 {
		// Unknown until now: send it with a Content-Length, as
		// http.NewRequest does for a body in memory.
		r.ContentLength = int64(len(buf))
	}
	return r
}

// joined is a body made of the part of a request body read ahead and
// the rest of it; closing it closes the request body.
type joined struct {
	io.Reader
	body io.ReadCloser
}

func (j *joined) Close() error { return j.body.Close() }

// failingReader fails every Read with err.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }
