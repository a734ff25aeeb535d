//go:build race

package idempotency

// raceEnabled: the race detector allocates on its own, so allocation
// counts of keyed requests are not checked under it.
const raceEnabled = true
