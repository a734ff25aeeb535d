package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Overhead is one peer's row of the overhead plot: the stub case's time
// and allocations per call.
type Overhead struct {
	Peer        string
	NsPerOp     float64
	AllocsPerOp int64
}

// MeasureOverhead runs the stub case for every peer of env count times
// (each run as long as -test.benchtime says; rounds visit every peer in
// turn) and returns each peer's median time and its allocations, in the
// order of env.Peers (bare first).
func MeasureOverhead(env *Env, count int) ([]Overhead, error) {
	stubCase := Cases[0]
	samples := make([][]float64, len(env.Peers))
	rows := make([]Overhead, len(env.Peers))
	for range count {
		for i, p := range env.Peers {
			r := testing.Benchmark(func(b *testing.B) { b.ReportAllocs(); stubCase.Run(b, env, p) })
			if r.N == 0 {
				return nil, fmt.Errorf("bench: %s/%s failed", stubCase.Name, p.Name)
			}
			samples[i] = append(samples[i], float64(r.T.Nanoseconds())/float64(r.N))
			rows[i] = Overhead{Peer: p.Name, AllocsPerOp: r.AllocsPerOp()}
		}
	}
	for i := range rows {
		slices.Sort(samples[i])
		rows[i].NsPerOp = samples[i][len(samples[i])/2]
	}
	return rows, nil
}

// PlotOverhead writes, as SVG, two bar charts side by side: per peer, the
// time and the allocations each call costs over the first row's (bare).
func PlotOverhead(w io.Writer, rows []Overhead) error {
	if len(rows) < 2 {
		return fmt.Errorf("bench: overhead plot needs bare and at least one peer, got %d rows", len(rows))
	}
	bare := rows[0]
	peers := rows[1:]
	// Bars are drawn from the bottom up: reverse, so the first peer is on top.
	n := len(peers)
	names := make([]string, n)
	us := make(plotter.Values, n)
	allocs := make(plotter.Values, n)
	for i, r := range peers {
		j := n - 1 - i
		names[j] = r.Peer
		us[j] = (r.NsPerOp - bare.NsPerOp) / 1e3
		allocs[j] = float64(r.AllocsPerOp - bare.AllocsPerOp)
	}

	left, err := barPanel(us, fmt.Sprintf("µs per call over bare (%.2f µs)", bare.NsPerOp/1e3), "%+.1f", plotutil.Color(0))
	if err != nil {
		return err
	}
	left.NominalY(names...)
	left.Title.Text = "Cost per call over a bare client (stub transport)"
	right, err := barPanel(allocs, fmt.Sprintf("allocations over bare (%d)", bare.AllocsPerOp), "%+.0f", plotutil.Color(1))
	if err != nil {
		return err
	}
	blank := make([]string, n)
	right.NominalY(blank...)
	right.Title.Text = " "

	height := vg.Length(n)*7*vg.Millimeter + 30*vg.Millimeter
	return writeSVG(w, 28*vg.Centimeter, height, left, right)
}

// barPanel is a horizontal bar chart of vs with each value written at the
// end of its bar.
func barPanel(vs plotter.Values, xLabel, format string, c color.Color) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = xLabel
	bars, err := plotter.NewBarChart(vs, 4*vg.Millimeter)
	if err != nil {
		return nil, err
	}
	bars.Horizontal = true
	bars.Color = c
	bars.LineStyle.Width = 0
	p.Add(bars, plotter.NewGrid())
	xys := make(plotter.XYs, len(vs))
	labels := make([]string, len(vs))
	for i, v := range vs {
		xys[i] = plotter.XY{X: max(v, 0), Y: float64(i)}
		labels[i] = fmt.Sprintf(format, v)
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, err
	}
	l.Offset = vg.Point{X: vg.Millimeter, Y: -1.2 * vg.Millimeter}
	p.Add(l)
	if hi := slices.Max(vs); hi > 0 {
		p.X.Max = hi * 1.25 // room for the labels
	}
	return p, nil
}

// PlotOutage writes, as SVG, the requests per bucket the server saw from
// each peer over the outage scenario, the outage shaded.
func PlotOutage(w io.Writer, rows []Outage, bucket time.Duration) error {
	if len(rows) == 0 {
		return fmt.Errorf("bench: outage plot needs at least one peer")
	}
	s := rows[0].Script
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Server load, a call every %v; the server answers 500 from %v to %v (shaded)", s.Interval, s.Healthy, s.Healthy+s.Outage)
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = fmt.Sprintf("requests reaching the server per %v", bucket)
	p.Legend.Top = true
	p.Legend.Left = false

	peak := 0.0
	var lines []any
	for _, r := range rows {
		load := r.Load(bucket)
		xys := make(plotter.XYs, len(load))
		for i, v := range load {
			xys[i] = plotter.XY{X: (float64(i) + 0.5) * bucket.Seconds(), Y: v}
			peak = max(peak, v)
		}
		lines = append(lines, r.Peer, xys)
	}
	top := peak * 1.45 // room for the legend
	from, to := s.Healthy.Seconds(), (s.Healthy + s.Outage).Seconds()
	shade, err := plotter.NewPolygon(plotter.XYs{{X: from, Y: 0}, {X: to, Y: 0}, {X: to, Y: top}, {X: from, Y: top}})
	if err != nil {
		return err
	}
	shade.Color = color.Gray{Y: 235}
	shade.LineStyle.Width = 0
	p.Add(shade, plotter.NewGrid())
	if err := plotutil.AddLines(p, lines...); err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = 0, top
	p.X.Min, p.X.Max = 0, s.Total().Seconds()
	return writeSVG(w, 24*vg.Centimeter, 13*vg.Centimeter, p)
}

// PlotLatencyCDF writes, as SVG, the cumulative distribution of each
// measurement's latencies on a logarithmic time axis.
func PlotLatencyCDF(w io.Writer, rows []Hedging) error {
	if len(rows) == 0 {
		return fmt.Errorf("bench: latency plot needs at least one measurement")
	}
	p := plot.New()
	p.Title.Text = "Latency CDF: 5% of requests take 1s"
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "fraction of requests answered (from the median up)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = 8 * vg.Millimeter
	p.Add(plotter.NewGrid())
	var lines []any
	for _, r := range rows {
		if len(r.Latencies) == 0 {
			return fmt.Errorf("bench: %s has no latencies", r.Label)
		}
		n := len(r.Latencies)
		xys := make(plotter.XYs, n)
		for i, l := range r.Latencies {
			xys[i] = plotter.XY{X: max(float64(l)/float64(time.Millisecond), 0.01), Y: float64(i+1) / float64(n)}
		}
		lines = append(lines, r.Label, xys)
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = 0.5, 1.0 // the tail is the story; the lower half is alike
	p.X.Max *= 2                // room for the last tick's label
	return writeSVG(w, 24*vg.Centimeter, 12*vg.Centimeter, p)
}

// writeSVG draws plots side by side on one SVG canvas of the given size.
func writeSVG(w io.Writer, width, height vg.Length, plots ...*plot.Plot) error {
	c := vgsvg.New(width, height)
	dc := draw.New(c)
	if len(plots) == 1 {
		plots[0].Draw(dc)
	} else {
		tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
		for j, cv := range plot.Align([][]*plot.Plot{plots}, tiles, dc)[0] {
			plots[j].Draw(cv)
		}
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return err
	}
	// vgsvg names the font without a fallback; where Liberation Serif is
	// missing, Times has its metrics (the labels were laid out with them).
	_, err := w.Write(bytes.ReplaceAll(buf.Bytes(), []byte("font-family:Liberation Serif;"), []byte(fallbackFonts)))
	return err
}

const fallbackFonts = "font-family:'Liberation Serif','Times New Roman',Times,serif;"
