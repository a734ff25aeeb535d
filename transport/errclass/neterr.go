package errclass

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"syscall"
)

// h2StreamError mirrors the shape of net/http's bundled HTTP/2 StreamError.
// That type is unexported, but its As method fills any struct with the same
// field names and convertible types, which lets us read the error code
// without matching error strings.
type h2StreamError struct {
	StreamID uint32
	Code     uint32
	Cause    error
}

func (e h2StreamError) Error() string {
	return "http2 stream error: code " + strconv.FormatUint(uint64(e.Code), 10)
}

// h2RefusedStream is the HTTP/2 REFUSED_STREAM error code (RFC 9113 §7):
// the server did not process the stream.
const h2RefusedStream = 0x7

func classifyError(req *http.Request, err error) Outcome {
	// The caller's own cancellation or deadline wins over whatever error the
	// transport produced while being torn down.
	if req != nil && req.Context().Err() != nil || errors.Is(err, context.Canceled) {
		return Outcome{Class: Canceled, Delivery: Ambiguous}
	}
	if err == nil {
		// A RoundTripper that returned neither a response nor an error is
		// broken; http.Client reports it as an error too.
		return Outcome{Class: Permanent, Delivery: Ambiguous}
	}

	var refusal Refusal
	if errors.As(err, &refusal) {
		return Outcome{Class: Permanent, Delivery: NotSent, Refused: true, RetryAfter: max(refusal.RetryIn(), 0)}
	}
	if isTLSError(err) {
		return Outcome{Class: Permanent, Delivery: NotSent}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			// NXDOMAIN does not fix itself within a backoff.
			return Outcome{Class: Permanent, Delivery: NotSent}
		}
		return Outcome{Class: Retryable, Delivery: NotSent, Timeout: dnsErr.IsTimeout}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && (opErr.Op == "dial" || opErr.Op == "proxyconnect") {
		return Outcome{Class: Retryable, Delivery: NotSent, Timeout: opErr.Timeout()}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return Outcome{Class: Retryable, Delivery: NotSent}
	}
	var se h2StreamError
	if errors.As(err, &se) && se.Code == h2RefusedStream {
		return Outcome{Class: Retryable, Delivery: NotSent}
	}

	out := Outcome{Delivery: Ambiguous}
	var netErr net.Error
	var protoErr textproto.ProtocolError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// Not the caller's deadline (checked above): an attempt's timeout.
		out.Timeout = true
	case errors.As(err, &netErr) && netErr.Timeout():
		out.Timeout = true
	case opErr != nil, // read or write on an established connection
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.As(err, &se),
		// A response cut off mid-headers reads as a malformed one.
		errors.As(err, &protoErr):
	default:
		// Unrecognised errors (bad URLs, unsupported schemes, a custom
		// RoundTripper's own errors) are not retried: guessing wrong would
		// repeat a request that cannot succeed or must not be repeated.
		return Outcome{Class: Permanent, Delivery: Ambiguous}
	}
	if Idempotent(req) {
		out.Class = Retryable
	} else {
		out.Class = Permanent
	}
	return out
}

func isTLSError(err error) bool {
	var (
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verifyErr) || errors.As(err, &recordErr) || errors.As(err, &alertErr) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid)
}
