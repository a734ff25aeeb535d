package tracing

import (
	"io"
	"net/http"
	"sync"
)

// trackedBody calls end once, when the body is read to the end, fails, or is
// closed, so that a span lives as long as its response. It keeps up to limit
// bytes of what the caller reads, for the error detail; it never reads ahead
// of the caller.
type trackedBody struct {
	rc    io.ReadCloser
	limit int
	end   func(captured []byte, readErr error)

	mu    sync.Mutex // Close may race with Read
	buf   []byte
	ended bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && b.limit > 0 {
		b.mu.Lock()
		if room := b.limit - len(b.buf); room > 0 {
			b.buf = append(b.buf, p[:min(n, room)]...)
		}
		b.mu.Unlock()
	}
	switch {
	case err == io.EOF:
		b.finish(nil)
	case err != nil:
		b.finish(err)
	}
	return n, err
}

func (b *trackedBody) Close() error {
	err := b.rc.Close()
	b.finish(nil)
	return err
}

func (b *trackedBody) finish(readErr error) {
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		return
	}
	b.ended = true
	buf := b.buf
	b.mu.Unlock()
	b.end(buf, readErr)
}

// trackedRWBody keeps the io.Writer of a 101 Switching Protocols body, which
// callers reach by type assertion.
type trackedRWBody struct {
	*trackedBody
	w io.Writer
}

func (b trackedRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// trackBody wraps rc so that end runs when the caller is done with it. A
// missing or empty body ends at once.
func trackBody(rc io.ReadCloser, limit int, end func(captured []byte, readErr error)) io.ReadCloser {
	if rc == nil || rc == http.NoBody {
		end(nil, nil)
		return rc
	}
	b := &trackedBody{rc: rc, limit: limit, end: end}
	if w, ok := rc.(io.Writer); ok {
		return trackedRWBody{b, w}
	}
	return b
}
