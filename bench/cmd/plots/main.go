// Command plots measures the overhead per peer, the server's load during
// an outage per peer and the latency with and without hedging, and writes
// them as SVG pictures (embedded in bench/README.md) into a directory.
//
//	cd bench && go run ./cmd/plots        # about a minute on 2 cores
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient/bench"
	"github.com/resilient-http/resilient/transport/retry"
)

func main() {
	testing.Init()
	dir := flag.String("out", "plots", "directory to write the SVG files to")
	count := flag.Int("count", 5, "runs of each overhead benchmark (the median is plotted)")
	benchtime := flag.String("benchtime", "100ms", "time per overhead benchmark run")
	requests := flag.Int("requests", 1000, "GETs per hedging measurement")
	only := flag.String("only", "overhead,outage,latency", "comma-separated pictures to make")
	flag.Parse()
	if err := flag.Set("test.benchtime", *benchtime); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	write := func(name string, plot func(*bytes.Buffer) error) {
		var buf bytes.Buffer
		if err := plot(&buf); err != nil {
			log.Fatalf("plots: %s: %v", name, err)
		}
		path := filepath.Join(*dir, name)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "plots: wrote %s\n", path)
	}

	want := strings.Split(*only, ",")
	if slices.Contains(want, "overhead") {
		overhead(*count, write)
	}
	if slices.Contains(want, "outage") {
		outage(write)
	}
	if slices.Contains(want, "latency") {
		latency(*requests, write)
	}
}

type writeFunc func(name string, plot func(*bytes.Buffer) error)

func overhead(count int, write writeFunc) {
	fmt.Fprintln(os.Stderr, "plots: overhead (stub case, every peer)...")
	env := bench.NewEnv()
	over, err := bench.MeasureOverhead(env, count)
	env.Close()
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range over {
		fmt.Printf("overhead: %-40s %8.0f ns/op (%+7.0f) %3d allocs (%+d)\n", r.Peer, r.NsPerOp, r.NsPerOp-over[0].NsPerOp, r.AllocsPerOp, r.AllocsPerOp-over[0].AllocsPerOp)
	}
	write("overhead.svg", func(b *bytes.Buffer) error { return bench.PlotOverhead(b, over) })
}

func outage(write writeFunc) {

	script := bench.DefaultOutage
	var outages []bench.Outage
	for _, p := range bench.OutagePeers(script.OpenTimeout) {
		fmt.Fprintf(os.Stderr, "plots: outage, %s...\n", p.Name)
		o := bench.MeasureOutage(p, script)
		during := 0
		for _, a := range o.Arrivals {
			if a >= script.Healthy && a < script.Healthy+script.Outage {
				during++
			}
		}
		fmt.Printf("outage: %-32s %5d calls, %5d failed, %5d server hits (%d during the outage), first 200 %v after the heal\n",
			o.Peer, o.Calls, o.Failed, len(o.Arrivals), during, o.Recovery.Round(time.Millisecond))
		outages = append(outages, o)
	}
	write("outage.svg", func(b *bytes.Buffer) error { return bench.PlotOutage(b, outages, 100*time.Millisecond) })
}

func latency(requests int, write writeFunc) {

	fmt.Fprintln(os.Stderr, "plots: hedging...")
	hedges := []bench.Hedging{
		bench.MeasureHedging("no hedging", retry.HedgePolicy{}, requests, 16),
		bench.MeasureHedging("hedge after 50ms", retry.HedgePolicy{Delay: 50 * time.Millisecond}, requests, 16),
		bench.MeasureHedging("hedge at the p90", retry.HedgePolicy{Quantile: 0.9}, requests, 16),
	}
	fmt.Print(bench.HedgingTable(hedges))
	write("latency.svg", func(b *bytes.Buffer) error { return bench.PlotLatencyCDF(b, hedges) })
}
