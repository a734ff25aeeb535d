package tracing

import (
	"io"
	"net/http"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// endAttrs holds the attributes a span gets when it ends, inline: kept in
// the (already allocated) body wrapper, they cost no allocation of their
// own.
type endAttrs struct {
	kv [5]attribute.KeyValue // the most either layer sets: see their RoundTrip
	n  int
}

func (a *endAttrs) add(kv attribute.KeyValue) {
	if a.n < len(a.kv) {
		a.kv[a.n] = kv
		a.n++
	}
}

// copied returns the attributes in a slice of their own, for the paths
// where they do not live in a body wrapper (passing a slice of a local
// array to a span would move the array to the heap on every path).
func (a *endAttrs) copied() []attribute.KeyValue {
	return append([]attribute.KeyValue(nil), a.kv[:a.n]...)
}

// trackedBody ends its span once, when the body is read to the end, fails,
// or is closed, so that a span lives as long as its response. It keeps up to
// limit bytes of what the caller reads, for the error detail; it never reads
// ahead of the caller.
type trackedBody struct {
	rc     io.ReadCloser
	limit  int
	span   trace.Span
	end    endAttrs
	status int
	header http.Header

	mu    sync.Mutex // Close may race with Read
	buf   []byte
	ended bool

	// The request's span, when it ends with the attempt's (see trackOuter).
	outer    trace.Span
	outerEnd endAttrs
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
	buf, outer := b.buf, b.outer
	b.mu.Unlock()
	detail := detailOf(b.status, b.header, buf)
	endSpan(b.span, &b.end, detail, readErr)
	if outer != nil {
		endSpan(outer, &b.outerEnd, detail, readErr)
	}
}

// endSpan sets end's attributes on span, with the error detail if any,
// records a read error, and ends span. end must not live on the caller's
// stack.
func endSpan(span trace.Span, end *endAttrs, detail string, readErr error) {
	if detail != "" {
		end.add(attrDetail.String(detail))
	}
	if end.n > 0 {
		span.SetAttributes(end.kv[:end.n]...)
	}
	if readErr != nil {
		span.AddEvent("body_read_error", trace.WithAttributes(attribute.String("message", errorText(readErr))))
		span.SetStatus(codes.Error, "reading the response body: "+errorText(readErr))
	}
	span.End()
}

// trackedRWBody keeps the io.Writer of a 101 Switching Protocols body, which
// callers reach by type assertion.
type trackedRWBody struct {
	*trackedBody
	w io.Writer
}

func (b trackedRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// trackBody wraps resp's body so that span ends, with the attributes end,
// when the caller is done with it. A missing or empty body ends the span at
// once.
func trackBody(resp *http.Response, limit int, span trace.Span, end endAttrs) io.ReadCloser {
	rc := resp.Body
	if rc == nil || rc == http.NoBody {
		span.SetAttributes(end.copied()...)
		span.End()
		return rc
	}
	b := &trackedBody{rc: rc, limit: limit, span: span, end: end, status: resp.StatusCode, header: resp.Header}
	if w, ok := rc.(io.Writer); ok {
		return trackedRWBody{b, w}
	}
	return b
}

// trackOuter ends span with resp's body, like trackBody. When the body is
// already an attempt's tracked body (the retry layer hands the last
// attempt's response back as it is), span rides on it: one wrapper, one
// capture of the detail, both spans ended together, the attempt's first.
func trackOuter(resp *http.Response, limit int, span trace.Span, end endAttrs) io.ReadCloser {
	var b *trackedBody
	switch tb := resp.Body.(type) {
	case *trackedBody:
		b = tb
	case trackedRWBody:
		b = tb.trackedBody
	}
	if b != nil && b.status == resp.StatusCode {
		b.mu.Lock()
		ok := !b.ended && b.outer == nil && len(b.buf) == 0
		if ok {
			b.outer, b.outerEnd = span, end
			b.limit = max(b.limit, limit)
		}
		b.mu.Unlock()
		if ok {
			return resp.Body
		}
	}
	return trackBody(resp, limit, span, end)
}
