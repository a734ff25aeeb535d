// Package cutoff lets the breaker hear how a body watched by package
// timeout ended, without making that hook part of timeout's API.
package cutoff

// A Reporter hears how a watched body ended: cut by its idle bound (cut
// is true), or otherwise (read to the end, failed, or closed). token is
// what the Reporter passed to [Notifier.NotifyCut]. It is an alias of an
// interface literal so that package timeout's bodies implement [Notifier]
// without importing this package.
type Reporter = interface {
	BodyDone(token uint64, cut bool)
}

// A Notifier is a body that may be cut by an idle bound: the bodies of
// responses through a timeout.Transport. NotifyCut asks it to tell r, once,
// how it ends, and reports whether it will: false when it has no idle
// bound (nothing to watch) or has ended already. A breaker uses it to count
// a response only once its body is done.
type Notifier interface {
	NotifyCut(r Reporter, token uint64) bool
}
