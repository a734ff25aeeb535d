package tracing

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// attemptEnd is what an attempt's span records when it ends, kept compact
// (in the body wrapper, already allocated) until then. The attempt's span
// gets all its attributes in one call when it ends: the SDK then holds
// them in one slice of the right size, where attributes given at the start
// and more at the end cost a start slice, a copy in the start options and
// a slice twice the start's when the end ones arrive. The zero attemptEnd
// (a request span's wrapper) sets none.
type attemptEnd struct {
	base       []attribute.KeyValue // the request's, shared: read only
	attempt    errclass.Attempt
	class      errclass.Class
	status     int           // 0: no response
	retryAfter time.Duration // the response's hint, if any
	errType    string        // error.type; "" when none
	refused    bool
}

// attrs returns the span's attributes, with detail if not "", in a slice
// of their own.
func (e *attemptEnd) attrs(detail string) []attribute.KeyValue {
	if e.attempt.Number == 0 {
		if detail == "" {
			return nil
		}
		return []attribute.KeyValue{attrDetail.String(detail)}
	}
	n := len(e.base) + 2 // attempt, class
	if e.attempt.Number > 1 {
		n += 3
	}
	n += b2i(e.status > 0) + b2i(e.retryAfter > 0) + b2i(e.errType != "") + b2i(e.refused) + b2i(detail != "")
	kv := make([]attribute.KeyValue, 0, n) // exactly: the SDK copies them
	kv = append(kv, e.base...)
	kv = append(kv, attrAttempt.Int(e.attempt.Number))
	if e.attempt.Number > 1 {
		kv = append(kv, semconv.HTTPRequestResendCount(e.attempt.Number-1),
			attrDelay.Float64(e.attempt.Delay.Seconds()), attrFromRetryAfter.Bool(e.attempt.FromRetryAfter))
	}
	kv = append(kv, attrClass.String(e.class.String()))
	if e.status > 0 {
		kv = append(kv, semconv.HTTPResponseStatusCode(e.status))
	}
	if e.retryAfter > 0 {
		kv = append(kv, attrRetryAfter.Float64(e.retryAfter.Seconds()))
	}
	if e.errType != "" {
		kv = append(kv, semconv.ErrorTypeKey.String(e.errType))
	}
	if e.refused {
		kv = append(kv, attrRefused.Bool(true))
	}
	if detail != "" {
		kv = append(kv, attrDetail.String(detail))
	}
	return kv
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// trackedBody ends its span once, when the body is read to the end, fails,
// or is closed, so that a span lives as long as its response. It keeps up to
// limit bytes of what the caller reads, for the error detail; it never reads
// ahead of the caller.
type trackedBody struct {
	rc     io.ReadCloser
	limit  int
	span   trace.Span
	end    attemptEnd
	status int
	header http.Header

	mu    sync.Mutex // Close may race with Read
	buf   []byte
	ended bool

	// The request's span, when it ends with the attempt's (see
	// trackOuter). Its other attributes are already set.
	outer trace.Span
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
	endSpan(b.span, b.end.attrs(detail), readErr)
	if outer != nil {
		if detail != "" {
			outer.SetAttributes(attrDetail.String(detail))
		}
		endSpan(outer, nil, readErr)
	}
}

// endSpan sets the attributes end on span, records a read error, and ends
// span.
func endSpan(span trace.Span, end []attribute.KeyValue, readErr error) {
	if len(end) > 0 {
		span.SetAttributes(end...)
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
func trackBody(resp *http.Response, limit int, span trace.Span, end attemptEnd) io.ReadCloser {
	rc := resp.Body
	if rc == nil || rc == http.NoBody {
		endSpan(span, end.attrs(""), nil)
		return rc
	}
	b := &trackedBody{rc: rc, limit: limit, span: span, end: end, status: resp.StatusCode, header: resp.Header}
	if w, ok := rc.(io.Writer); ok {
		return trackedRWBody{b, w}
	}
	return b
}

// trackOuter ends span, whose attributes are set, with resp's body, like
// trackBody. When the body is already an attempt's tracked body (the retry
// layer hands the last attempt's response back as it is), span rides on
// it: one wrapper, one capture of the detail, both spans ended together,
// the attempt's first.
func trackOuter(resp *http.Response, limit int, span trace.Span) io.ReadCloser {
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
			b.outer = span
			b.limit = max(b.limit, limit)
		}
		b.mu.Unlock()
		if ok {
			return resp.Body
		}
	}
	return trackBody(resp, limit, span, attemptEnd{})
}
