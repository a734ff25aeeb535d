package tracing

import (
	"io"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/internal/bodywatch"
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
	req        *request // the request's description, shared: read only
	attempt    errclass.Attempt
	status     int           // 0: no response
	retryAfter time.Duration // the response's hint, if any
	errType    string        // error.type; "" when none
	class      errclass.Class
	refused    bool // next to class: one word for both
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
	n := e.req.attrs() + 2 // attempt, class
	if e.attempt.Number > 1 {
		n += 3
	}
	n += b2i(e.status > 0) + b2i(e.retryAfter > 0) + b2i(e.errType != "") + b2i(e.refused) + b2i(detail != "")
	kv := make([]attribute.KeyValue, 0, n) // exactly: the SDK copies them
	kv = e.req.appendTo(kv)
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
// ahead of the caller. Its fields below Body are set before it is handed up,
// or under Body's lock (see trackOuter), and read by the hooks.
type trackedBody struct {
	bodywatch.Body
	limit  int
	span   trace.Span
	end    attemptEnd // end.status is the response's status, for the detail
	header http.Header
	buf    []byte

	// The request's span, when it ends with the attempt's (see
	// trackOuter). Its other attributes are already set.
	outer trace.Span
}

// BeforeRead does nothing: the span times the whole body.
func (b *trackedBody) BeforeRead() {}

// AfterRead keeps what fits of p for the detail.
func (b *trackedBody) AfterRead(p []byte, err error, _ bodywatch.End) error {
	if len(p) > 0 && b.limit > 0 {
		b.buf, _ = bodywatch.Keep(b.buf, p, b.limit)
	}
	return err
}

// End ends the attempt's span, and the request's riding on it, recording a
// read error.
func (b *trackedBody) End(how bodywatch.End, readErr error) {
	if how != bodywatch.Failed {
		readErr = nil
	}
	detail := detailOf(b.end.status, b.header, b.buf)
	endSpan(b.span, b.end.attrs(detail), readErr)
	if b.outer != nil {
		if detail != "" {
			b.outer.SetAttributes(attrDetail.String(detail))
		}
		endSpan(b.outer, nil, readErr)
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

// trackBody wraps resp's body so that span ends, with the attributes end,
// when the caller is done with it. A missing or empty body ends the span at
// once. A 101 Switching Protocols body keeps its io.Writer.
func trackBody(resp *http.Response, limit int, span trace.Span, end attemptEnd) io.ReadCloser {
	rc := resp.Body
	if rc == nil || rc == http.NoBody {
		endSpan(span, end.attrs(""), nil)
		return rc
	}
	// An attempt's end has the status already; a request's ignores it.
	end.status = resp.StatusCode
	b := &trackedBody{limit: limit, span: span, end: end, header: resp.Header}
	b.Watch(rc, b, false)
	return bodywatch.Writable(b, rc)
}

// trackOuter ends span, whose attributes are set, with resp's body, like
// trackBody. When the body is already an attempt's tracked body (the retry
// layer hands the last attempt's response back as it is), span rides on
// it: one wrapper, one capture of the detail, both spans ended together,
// the attempt's first.
func trackOuter(resp *http.Response, limit int, span trace.Span) io.ReadCloser {
	if b, ok := bodywatch.Unwrap(resp.Body).(*trackedBody); ok && b.end.status == resp.StatusCode {
		if b.IfLive(func() bool {
			if b.outer != nil || len(b.buf) != 0 {
				return false
			}
			b.outer = span
			b.limit = max(b.limit, limit)
			return true
		}) {
			return resp.Body
		}
	}
	return trackBody(resp, limit, span, attemptEnd{})
}
