// Command compare runs the benchmark cases and behaviour scenarios for
// every peer in one process and prints them as markdown tables, with each
// row's ratio to the bare client.
//
//	cd bench && go run ./cmd/compare -count 6 -benchtime 300ms
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient/bench"
)

func main() {
	testing.Init()
	count := flag.Int("count", 6, "runs of each benchmark")
	benchtime := flag.String("benchtime", "300ms", "time per benchmark run")
	only := flag.String("cases", "", "comma-separated case names to run (default all)")
	skipBehaviour := flag.Bool("no-behaviour", false, "skip the behaviour scenarios")
	flag.Parse()
	flag.Set("test.benchtime", *benchtime)

	fmt.Printf("# resilient vs peers\n\n%s, %s/%s, %d CPUs, %s; %d runs of %s each; medians, ± is half the interquartile range as a %% of the median; rounds visit every peer in turn.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), *count, *benchtime)

	env := bench.NewEnv()
	defer env.Close()
	for _, c := range bench.Cases {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), c.Name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "compare: %s...\n", c.Name)
		fmt.Printf("## %s\n\n| peer | ns/op | vs bare | B/op | allocs/op | Δ allocs |\n|---|---:|---:|---:|---:|---:|\n", c.Name)
		// Rounds visit every peer in turn, so that drift of the machine
		// (frequency, other load) spreads over all rows alike.
		samples := make([][]testing.BenchmarkResult, len(env.Peers))
		for range *count {
			for i, p := range env.Peers {
				r := testing.Benchmark(func(b *testing.B) { b.ReportAllocs(); c.Run(b, env, p) })
				if r.N == 0 {
					fmt.Fprintf(os.Stderr, "compare: %s/%s failed\n", c.Name, p.Name)
					os.Exit(1)
				}
				samples[i] = append(samples[i], r)
			}
		}
		var bare stats
		for i, p := range env.Peers {
			s := summarize(samples[i])
			if i == 0 {
				bare = s
			}
			fmt.Printf("| %s | %s ±%.0f%% | %.2f× (%+s) | %d | %d | %+d |\n", p.Name, ns(s.ns), s.spread, s.ns/bare.ns,
				ns(s.ns-bare.ns), s.bytes, s.allocs, s.allocs-bare.allocs)
		}
		fmt.Println()
	}

	if !*skipBehaviour {
		peers := bench.Peers(nil)
		rows := make([]bench.Behaviour, len(peers))
		var wg sync.WaitGroup
		for i, p := range peers {
			wg.Add(1)
			go func() { defer wg.Done(); rows[i] = bench.Measure(p) }()
		}
		wg.Wait()
		fmt.Printf("## behaviour\n\n%s\n", bench.BehaviourTable(rows))
		fmt.Printf("## traces of a GET answered 500, 500, 200\n\n%s\n", bench.TraceTable(bench.MeasureTraces()))
	}
}

type stats struct {
	ns, spread    float64
	bytes, allocs int64
}

// summarize returns the median ns/op of runs with its spread.
func summarize(runs []testing.BenchmarkResult) stats {
	var nss []float64
	for _, r := range runs {
		nss = append(nss, float64(r.T.Nanoseconds())/float64(r.N))
	}
	last := runs[len(runs)-1]
	sort.Float64s(nss)
	n := len(nss)
	med := nss[n/2]
	q1, q3 := nss[n/4], nss[(3*n)/4]
	return stats{
		ns:     med,
		spread: (q3 - q1) / 2 / med * 100,
		bytes:  last.AllocedBytesPerOp(),
		allocs: last.AllocsPerOp(),
	}
}

func ns(v float64) string {
	switch {
	case v >= 1e6 || v <= -1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3 || v <= -1e3:
		return fmt.Sprintf("%.2f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}
