package bench

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// svgText parses path as XML and returns its root element's name and all
// its character data.
func svgText(t *testing.T, path string) (root string, text string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	var sb strings.Builder
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", filepath.Base(path), err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			sb.Write(tok)
			sb.WriteByte('\n')
		}
	}
	if depth != 0 {
		t.Fatalf("%s: %d elements left open", filepath.Base(path), depth)
	}
	return root, sb.String()
}

// TestPlots draws the three pictures from small made-up data and checks
// that each is well-formed SVG naming every series, so that a broken
// plotter shows without the long measurement. Mutations caught: a plot
// that drops its legend or a series, a writer that emits nothing or
// breaks the XML (the font fallback is spliced into the output).
func TestPlots(t *testing.T) {
	dir := t.TempDir()
	script := OutageScript{Healthy: 200 * time.Millisecond, Outage: 300 * time.Millisecond, Healed: 200 * time.Millisecond, Interval: 10 * time.Millisecond, OpenTimeout: 100 * time.Millisecond}
	cases := []struct {
		file  string
		names []string
		plot  func(io.Writer) error
	}{
		{"overhead.svg", []string{"bare + Client.Timeout", "resilient stack (no-op tracing)", "failsafe-go", "+22", "+0"}, func(w io.Writer) error {
			return PlotOverhead(w, []Overhead{
				{Peer: "bare", NsPerOp: 1600, AllocsPerOp: 11},
				{Peer: "bare + Client.Timeout", NsPerOp: 5600, AllocsPerOp: 29},
				{Peer: "resilient stack (no-op tracing)", NsPerOp: 1800, AllocsPerOp: 11},
				{Peer: "failsafe-go", NsPerOp: 3600, AllocsPerOp: 33},
			})
		}},
		{"outage.svg", []string{"bare", "go-retryablehttp", "resilient stack"}, func(w io.Writer) error {
			return PlotOutage(w, []Outage{
				{Peer: "bare", Script: script, Arrivals: []time.Duration{0, 250 * time.Millisecond, 600 * time.Millisecond}},
				{Peer: "go-retryablehttp", Script: script, Arrivals: []time.Duration{250 * time.Millisecond, 251 * time.Millisecond}},
				{Peer: "resilient stack", Script: script, Arrivals: []time.Duration{210 * time.Millisecond}, Recovery: 90 * time.Millisecond},
			}, 100*time.Millisecond)
		}},
		{"latency.svg", []string{"no hedging", "hedge after 50ms"}, func(w io.Writer) error {
			return PlotLatencyCDF(w, []Hedging{
				{Label: "no hedging", Requests: 3, Hits: 3, Latencies: []time.Duration{0, 5 * time.Millisecond, time.Second}},
				{Label: "hedge after 50ms", Requests: 3, Hits: 4, Latencies: []time.Duration{5 * time.Millisecond, 6 * time.Millisecond, 56 * time.Millisecond}},
			})
		}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.file)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.plot(f); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		root, text := svgText(t, path)
		if root != "svg" {
			t.Errorf("%s: root element %q, want svg", c.file, root)
		}
		lines := strings.Split(text, "\n")
		for _, name := range c.names {
			if !slices.Contains(lines, name) {
				t.Errorf("%s: no text %q in the picture", c.file, name)
			}
		}
	}

	if err := PlotOverhead(io.Discard, []Overhead{{Peer: "bare"}}); err == nil {
		t.Error("an overhead plot of bare alone: no error")
	}
	if err := PlotLatencyCDF(io.Discard, []Hedging{{Label: "empty"}}); err == nil {
		t.Error("a latency plot without latencies: no error")
	}
}

// TestOutageLoad checks the bucketing behind the outage plot. Mutation
// caught: an off-by-one bucket, or arrivals past the end counted.
func TestOutageLoad(t *testing.T) {
	o := Outage{Script: OutageScript{Healthy: 100 * time.Millisecond, Outage: 200 * time.Millisecond, Healed: 100 * time.Millisecond},
		Arrivals: []time.Duration{0, 99 * time.Millisecond, 100 * time.Millisecond, 399 * time.Millisecond, 400 * time.Millisecond}}
	if got, want := o.Load(100*time.Millisecond), []float64{2, 1, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("Load = %v, want %v", got, want)
	}
}

// TestOutage runs a short outage against three peers and checks what the
// outage plot shows: a bare client sends each call once, go-retryablehttp
// multiplies the load on the failing server, resilient's breaker sheds it
// and lets calls through again within an open time of the heal. Mutations
// caught: arrivals not recorded, the server not failing in its window,
// the outage peers' breakers not configured (no shedding) or their open
// time ignored (no recovery within the scenario).
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	script := OutageScript{Healthy: 200 * time.Millisecond, Outage: 600 * time.Millisecond, Healed: 700 * time.Millisecond,
		Interval: 10 * time.Millisecond, OpenTimeout: 300 * time.Millisecond}
	down, healed := script.Healthy, script.Healthy+script.Outage
	during := func(o Outage) int {
		n := 0
		for _, a := range o.Arrivals {
			if a >= down && a < healed {
				n++
			}
		}
		return n
	}
	got := map[string]Outage{}
	for _, p := range OutagePeers(script.OpenTimeout) {
		if p.Name == "bare" || p.Name == "go-retryablehttp" || p.Name == "resilient stack" {
			got[p.Name] = MeasureOutage(p, script)
		}
	}
	bare, rh, res := got["bare"], got["go-retryablehttp"], got["resilient stack"]
	calls := int(script.Outage / script.Interval)
	t.Logf("hits during the outage (%d calls): bare %d, go-retryablehttp %d, resilient %d; resilient's first 200 %v after the heal",
		calls, during(bare), during(rh), during(res), res.Recovery)
	if bare.Calls == 0 || len(bare.Arrivals) != bare.Calls {
		t.Errorf("bare: %d calls, %d arrivals, want one arrival per call", bare.Calls, len(bare.Arrivals))
	}
	if n := during(bare); n < calls*3/4 || n > calls*5/4 {
		t.Errorf("bare: %d hits during the outage, want about %d", n, calls)
	}
	if bare.Failed < calls*3/4 {
		t.Errorf("bare: %d calls failed, want about %d (the server's 500s)", bare.Failed, calls)
	}
	if during(rh) < 3*during(bare) {
		t.Errorf("go-retryablehttp: %d hits during the outage, want about 4× bare's %d", during(rh), during(bare))
	}
	if n := during(res); n > tripAfter+int(script.Outage/script.OpenTimeout)+2 {
		t.Errorf("resilient stack: %d hits during the outage, want the breaker to shed them", n)
	}
	if res.Recovery < 0 || res.Recovery > script.OpenTimeout+200*time.Millisecond {
		t.Errorf("resilient stack: first 200 %v after the heal, want within the open time (%v)", res.Recovery, script.OpenTimeout)
	}
}
