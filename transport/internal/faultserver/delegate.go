package faultserver

import (
	"net/http"
	"testing"
	"time"

	"github.com/resilient-http/resilient/resilienttest"
)

// The servers and handlers live in the public kit, package resilienttest;
// these names keep the tests of this module that import faultserver
// compiling unchanged. New tests should import resilienttest directly.
// Flapping stays here: its per-id log serves the load test of this module
// and is not (yet) part of the public kit.

// Server is [resilienttest.Server].
type Server = resilienttest.Server

// New is [resilienttest.New].
func New(t testing.TB, h http.Handler) *Server { t.Helper(); return resilienttest.New(t, h) }

// NewUnstarted is [resilienttest.NewUnstarted].
func NewUnstarted(t testing.TB, h http.Handler) *Server {
	t.Helper()
	return resilienttest.NewUnstarted(t, h)
}

// Eventually is [resilienttest.Eventually].
func Eventually(timeout time.Duration, cond func() bool) bool {
	return resilienttest.Eventually(timeout, cond)
}

// Within is [resilienttest.Within].
func Within(t testing.TB, d time.Duration, f func()) { t.Helper(); resilienttest.Within(t, d, f) }

// Reply is [resilienttest.Reply].
func Reply(status int, body string, header ...string) http.Handler {
	return resilienttest.Reply(status, body, header...)
}

// Status is [resilienttest.Status].
func Status(status int, header ...string) http.Handler {
	return resilienttest.Status(status, header...)
}

// Stall is [resilienttest.Stall].
func Stall(status, contentLength, sent int) http.Handler {
	return resilienttest.Stall(status, contentLength, sent)
}

// Drip is [resilienttest.Drip].
func Drip(status, total int, every time.Duration) http.Handler {
	return resilienttest.Drip(status, total, every)
}

// StallHeaders is [resilienttest.StallHeaders].
func StallHeaders() http.Handler { return resilienttest.StallHeaders() }

// Reset is [resilienttest.Reset].
func Reset() http.Handler { return resilienttest.Reset() }

// ResetAfter is [resilienttest.ResetAfter].
func ResetAfter(raw string, pause time.Duration) http.Handler {
	return resilienttest.ResetAfter(raw, pause)
}

// CloseAfter is [resilienttest.CloseAfter].
func CloseAfter(raw string) http.Handler { return resilienttest.CloseAfter(raw) }

// Script is [resilienttest.Script].
func Script(steps ...http.Handler) http.Handler { return resilienttest.Script(steps...) }
