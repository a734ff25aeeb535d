// Package resilienttest is a fault-injection kit for tests of HTTP
// clients: it makes the failures a client meets in production happen on
// demand, reproducibly, on loopback, so that a test checks what the
// client does about them.
//
// It has three parts:
//
//   - [Inject] wraps a RoundTripper in an [Injector] that injects, each at
//     a rate and from a seed, statuses with Retry-After, added latency,
//     connection resets, stalled bodies and truncated bodies, and counts
//     what it injected ([Injector.Counts]). Nothing runs on the network
//     that the RoundTripper below does not run.
//   - [NewPartnerServer] starts a scripted server for the partner API's
//     contract: 429 with Retry-After, bursts of 500s, 402 once credits
//     run out, 422 with real Pydantic bodies, meta.imports_remaining
//     counting down, hits per route.
//   - [New] starts a [Server] (an httptest.Server on 127.0.0.1 that counts
//     requests and connections and ends blocked handlers when the test
//     ends) running a handler that misbehaves at the socket level:
//     [Stall], [Drip], [StallHeaders], [Reset], [ResetAfter], [CloseAfter],
//     in a sequence with [Script], or answering plainly with [Reply] and
//     [Status]. [Eventually] and [Within] help assert on what settles late
//     and on what must not hang.
//
// A test of a client that must stop submitting once credits run out:
//
//	api := resilienttest.NewPartnerServer(t)
//	api.SetCredits(2)
//	api.RateLimit(resilienttest.RouteEnhancements, 1, "1")
//	runImport(client, api.URL, batches) // the code under test
//	if n := api.Hits(resilienttest.RouteEnhancements); n != 4 {
//		t.Errorf("%d submits, want 4: one 429, two accepted, one 402", n)
//	}
//
// Every server of the package binds to 127.0.0.1 and is closed by
// t.Cleanup; every blocking handler and stalled body ends when its
// request's context does, so tests that use the kit leave no goroutine
// behind (go.uber.org/goleak stays quiet).
package resilienttest
