package errclass

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

// derefErr dereferences its receiver in every method, as most error types
// do: a nil *derefErr panics when any of them is called. It is a net.Error
// and a Refusal.
type derefErr struct{ msg string }

func (e *derefErr) Error() string          { return e.msg }
func (e *derefErr) Timeout() bool          { return e.msg == "timeout" }
func (e *derefErr) Temporary() bool        { return false }
func (e *derefErr) RetryIn() time.Duration { return time.Duration(len(e.msg)) }
func (e *derefErr) Unwrap() error          { return errors.New(e.msg) }

// A RoundTripper may hand back a typed nil (var e *net.OpError; return nil,
// e), bare or wrapped: Classify must not call its methods (the standard
// library's errors.Is and errors.As would, through Unwrap) and must still
// see the real cause beside it in a chain. Issue 12, item 5.
func TestClassifyTypedNilErrors(t *testing.T) {
	var (
		nilOp      *net.OpError
		nilDNS     *net.DNSError
		nilURL     *url.Error
		nilSyscall *os.SyscallError
		nilVerify  *tls.CertificateVerificationError
		nilRecord  *tls.RecordHeaderError
		nilAlert   *tls.AlertError
		nilUnknown *x509.UnknownAuthorityError
		nilHost    *x509.HostnameError
		nilInvalid *x509.CertificateInvalidError
		nilDeref   *derefErr
	)
	var nilNetErr net.Error = nilDeref // an interface holding a typed nil
	var nilRefusal Refusal = nilDeref

	tests := []struct {
		name     string
		method   string
		err      error
		class    Class
		delivery Delivery
		timeout  bool
	}{
		{"bare *net.OpError", "GET", nilOp, Permanent, Ambiguous, false},
		{"bare *net.DNSError", "GET", nilDNS, Permanent, Ambiguous, false},
		{"bare *url.Error", "GET", nilURL, Permanent, Ambiguous, false},
		{"bare *os.SyscallError", "GET", nilSyscall, Permanent, Ambiguous, false},
		{"bare *tls.CertificateVerificationError", "GET", nilVerify, Permanent, Ambiguous, false},
		{"bare *tls.RecordHeaderError", "GET", nilRecord, Permanent, Ambiguous, false},
		{"bare *tls.AlertError", "GET", nilAlert, Permanent, Ambiguous, false},
		{"bare *x509.UnknownAuthorityError", "GET", nilUnknown, Permanent, Ambiguous, false},
		{"bare *x509.HostnameError", "GET", nilHost, Permanent, Ambiguous, false},
		{"bare *x509.CertificateInvalidError", "GET", nilInvalid, Permanent, Ambiguous, false},
		{"net.Error holding nil", "GET", nilNetErr, Permanent, Ambiguous, false},
		{"Refusal holding nil", "GET", nilRefusal, Permanent, Ambiguous, false},
		{"url.Error of *net.OpError", "GET", &url.Error{Op: "Get", URL: "http://x", Err: nilOp}, Permanent, Ambiguous, false},
		{"url.Error of *net.DNSError", "GET", &url.Error{Op: "Get", URL: "http://x", Err: nilDNS}, Permanent, Ambiguous, false},
		{"url.Error of net.Error holding nil", "GET", &url.Error{Op: "Get", URL: "http://x", Err: nilNetErr}, Permanent, Ambiguous, false},
		{"%w of *net.OpError", "GET", fmt.Errorf("dial: %w", nilOp), Permanent, Ambiguous, false},
		{"%w of *net.DNSError", "POST", fmt.Errorf("lookup: %w", nilDNS), Permanent, Ambiguous, false},
		{"%w of Refusal holding nil", "GET", fmt.Errorf("layer: %w", nilRefusal), Permanent, Ambiguous, false},
		{"%w of *tls.CertificateVerificationError", "GET", fmt.Errorf("tls: %w", nilVerify), Permanent, Ambiguous, false},
		{"*net.OpError dial holding *net.DNSError", "GET", &net.OpError{Op: "dial", Net: "tcp", Err: nilDNS}, Permanent, Ambiguous, false},
		{"*net.OpError read holding *os.SyscallError", "GET", &net.OpError{Op: "read", Net: "tcp", Err: nilSyscall}, Permanent, Ambiguous, false},
		// A typed nil beside the real cause does not hide it.
		{"joined with EOF, GET", "GET", errors.Join(nilOp, io.EOF), Retryable, Ambiguous, false},
		{"joined with EOF, POST", "POST", errors.Join(nilDNS, io.EOF), Permanent, Ambiguous, false},
		{"beside context.Canceled", "GET", fmt.Errorf("%w: %w", nilOp, context.Canceled), Canceled, Ambiguous, false},
		{"beside an attempt timeout", "GET", fmt.Errorf("%w: %w", nilNetErr, context.DeadlineExceeded), Retryable, Ambiguous, true},
		{"beside a dial error", "POST", errors.Join(nilOp, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}), Retryable, NotSent, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("Classify(%T) panicked: %v", tc.err, p)
				}
			}()
			got := Classify(newReq(t, tc.method), nil, tc.err)
			if got.Class != tc.class || got.Delivery != tc.delivery || got.Timeout != tc.timeout || got.Refused {
				t.Errorf("Classify(%T) = %v/%v timeout=%v refused=%v, want %v/%v timeout=%v",
					tc.err, got.Class, got.Delivery, got.Timeout, got.Refused, tc.class, tc.delivery, tc.timeout)
			}
			// A response beside the typed nil changes nothing: err wins.
			if got2 := Classify(newReq(t, tc.method), &http.Response{StatusCode: 200}, tc.err); got2 != got {
				t.Errorf("Classify(200, %T) = %+v, want %+v", tc.err, got2, got)
			}
		})
	}
}

// multiErr wraps several errors and answers Is and As for its own sentinel,
// to exercise every branch of is and as.
type multiErr struct{ errs []error }

func (m multiErr) Error() string        { return "multi" }
func (m multiErr) Unwrap() []error      { return m.errs }
func (m multiErr) Is(target error) bool { return target == errMultiSentinel }
func (m multiErr) As(target any) bool {
	if p, ok := target.(*codeErr); ok {
		*p = codeErr{code: 7}
		return true
	}
	return false
}

// codeErr is filled by multiErr's As method only.
type codeErr struct{ code int }

func (e codeErr) Error() string { return "code " + fmt.Sprint(e.code) }

var errMultiSentinel = errors.New("multi sentinel")

// is and as agree with errors.Is and errors.As on chains without typed nils.
func TestIsAndAsMatchTheStandardLibrary(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	chains := []error{
		io.EOF,
		fmt.Errorf("a: %w", fmt.Errorf("b: %w", io.ErrUnexpectedEOF)),
		&url.Error{Op: "Get", URL: "http://x", Err: dial},
		errors.Join(errors.New("x"), fmt.Errorf("y: %w", context.DeadlineExceeded)),
		multiErr{errs: []error{errors.New("x"), dial}},
		fmt.Errorf("wrapped: %w", multiErr{}),
		errors.New("plain"),
	}
	targets := []error{io.EOF, io.ErrUnexpectedEOF, context.DeadlineExceeded, syscall.ECONNREFUSED, errMultiSentinel, context.Canceled}
	for i, err := range chains {
		for _, target := range targets {
			if got, want := is(err, target), errors.Is(err, target); got != want {
				t.Errorf("chain %d: is(%v, %v) = %v, want %v", i, err, target, got, want)
			}
		}
		var op1, op2 *net.OpError
		if got, want := as(err, &op1), errors.As(err, &op2); got != want || op1 != op2 {
			t.Errorf("chain %d: as(*net.OpError) = %v %v, want %v %v", i, got, op1, want, op2)
		}
		var c1, c2 codeErr
		if got, want := as(err, &c1), errors.As(err, &c2); got != want || c1 != c2 {
			t.Errorf("chain %d: as(codeErr) = %v %v, want %v %v", i, got, c1, want, c2)
		}
		var ne1, ne2 net.Error
		if got, want := as(err, &ne1), errors.As(err, &ne2); got != want || ne1 != ne2 {
			t.Errorf("chain %d: as(net.Error) = %v %v, want %v %v", i, got, ne1, want, ne2)
		}
	}
}
