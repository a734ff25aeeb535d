package errclass

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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

func classifyError(req *http.Request, err error) (out Outcome) {
	// Classifying calls methods of errors made anywhere below (Is, As,
	// Unwrap, Timeout, RetryIn). is and as skip typed nils, but a non-nil
	// error may still reach a nil one it holds (a *net.OpError holding a
	// nil *net.DNSError panics in Timeout). A classification must not take
	// the caller down: such an error counts as unrecognised.
	defer func() {
		if recover() != nil {
			out = Outcome{Class: Permanent, Delivery: Ambiguous}
		}
	}()

	// The caller's own cancellation or deadline wins over whatever error the
	// transport produced while being torn down.
	if req != nil && req.Context().Err() != nil || is(err, context.Canceled) {
		return Outcome{Class: Canceled, Delivery: Ambiguous}
	}
	if err == nil {
		// A RoundTripper that returned neither a response nor an error is
		// broken; http.Client reports it as an error too.
		return Outcome{Class: Permanent, Delivery: Ambiguous}
	}

	var refusal Refusal
	if as(err, &refusal) {
		return Outcome{Class: Permanent, Delivery: NotSent, Refused: true, RetryAfter: max(refusal.RetryIn(), 0)}
	}
	if isTLSError(err) {
		return Outcome{Class: Permanent, Delivery: NotSent}
	}
	var dnsErr *net.DNSError
	if as(err, &dnsErr) {
		if dnsErr.IsNotFound {
			// NXDOMAIN does not fix itself within a backoff.
			return Outcome{Class: Permanent, Delivery: NotSent}
		}
		return Outcome{Class: Retryable, Delivery: NotSent, Timeout: dnsErr.IsTimeout, ServerFault: true}
	}
	var opErr *net.OpError
	if as(err, &opErr) && (opErr.Op == "dial" || opErr.Op == "proxyconnect") {
		return Outcome{Class: Retryable, Delivery: NotSent, Timeout: opErr.Timeout(), ServerFault: true}
	}
	if is(err, syscall.ECONNREFUSED) {
		return Outcome{Class: Retryable, Delivery: NotSent, ServerFault: true}
	}
	var se h2StreamError
	if as(err, &se) && se.Code == h2RefusedStream {
		return Outcome{Class: Retryable, Delivery: NotSent}
	}

	// What follows tells of a server (or the way to it) in trouble.
	out = Outcome{Delivery: Ambiguous, ServerFault: true}
	var netErr net.Error
	var protoErr textproto.ProtocolError
	switch {
	case is(err, context.DeadlineExceeded):
		// Not the caller's deadline (checked above): an attempt's timeout.
		out.Timeout = true
	case as(err, &netErr) && netErr.Timeout():
		out.Timeout = true
	case opErr != nil, // read or write on an established connection
		is(err, io.EOF), is(err, io.ErrUnexpectedEOF),
		is(err, syscall.ECONNRESET), is(err, syscall.ECONNABORTED),
		is(err, syscall.EPIPE), as(err, &se),
		// A response cut off mid-headers reads as a malformed one.
		as(err, &protoErr):
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
	return as(err, &verifyErr) || as(err, &recordErr) || as(err, &alertErr) ||
		as(err, &unknownCA) || as(err, &hostErr) || as(err, &invalid)
}
