package bench

import "testing"

// BenchmarkCases runs every case for every peer: the stub (the middleware's
// own cost), GET and POST 1 KiB over loopback, and 64 goroutines sharing one
// client. cmd/compare runs the same cases and prints them as ratios to bare.
func BenchmarkCases(b *testing.B) {
	env := NewEnv()
	defer env.Close()
	for _, c := range Cases {
		for _, p := range env.Peers {
			b.Run(c.Name+"/"+p.Name, func(b *testing.B) {
				b.ReportAllocs()
				c.Run(b, env, p)
			})
		}
	}
}
