// Package faultserver provides loopback HTTP servers that misbehave on
// purpose, for tests of the transport layers: a body that stalls after a
// few bytes, a body that drips one byte at a time, a server that reads the
// request and never answers, a connection reset (RST) after the request was
// read, a scripted sequence of answers, and a flapping server that fails a
// fraction of requests deterministically and logs what it did to each
// request id.
//
// A [Server] wraps an httptest.Server bound to 127.0.0.1. It counts requests
// ([Server.Hits]), new TCP connections ([Server.Conns]) and connections
// open now ([Server.Open]), and it ends every blocking handler when the test
// ends: t.Cleanup cancels the context of every request in flight before it
// closes the server (httptest.Server.Close waits for handlers), so a test
// that stalls a connection never hangs at its end and leaves no goroutine
// behind for goleak to find.
//
// The handlers ([Stall], [Drip], [StallHeaders], [Reset], [ResetAfter],
// [CloseAfter], [Reply], [Status], [Script], [Flapping]) are plain
// http.Handlers. Each one that blocks waits on its request's context, which
// a [Server] cancels at the end of the test and net/http cancels when the
// client goes away; each reads the request body before it misbehaves, so
// the fault comes after the whole request was received.
//
//	srv := faultserver.New(t, faultserver.Script(
//		faultserver.Stall(http.StatusServiceUnavailable, 1000, 1),
//		faultserver.Reply(http.StatusOK, "ok"),
//	))
//	resp, err := client.Get(srv.URL) // first request: 503, one byte, then nothing
//
// The servers and handlers now live in the public test kit, package
// resilienttest at the module root; the names here delegate to it so that
// existing tests compile unchanged (new tests import resilienttest). Only
// [Flapping], whose per-id log serves this module's load test, is
// implemented here.
package faultserver
