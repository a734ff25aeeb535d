package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// printMetrics prints the library's counters as collected in-process.
func printMetrics(w io.Writer, reader *sdkmetric.ManualReader) error {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nmetrics:")
	for _, sm := range rm.ScopeMetrics {
		sort.Slice(sm.Metrics, func(i, j int) bool { return sm.Metrics[i].Name < sm.Metrics[j].Name })
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				var parts []string
				for _, dp := range data.DataPoints {
					parts = append(parts, fmt.Sprintf("%s %d", labels(dp.Attributes), dp.Value))
				}
				sort.Strings(parts)
				fmt.Fprintf(w, "  %s: %s\n", m.Name, strings.Join(parts, ", "))
			case metricdata.Histogram[float64]:
				var n uint64
				var sum float64
				for _, dp := range data.DataPoints {
					n += dp.Count
					sum += dp.Sum
				}
				fmt.Fprintf(w, "  %s: %d recorded, %.3f%s in all\n", m.Name, n, sum, m.Unit)
			case metricdata.Gauge[int64]:
				var parts []string
				for _, dp := range data.DataPoints {
					parts = append(parts, fmt.Sprintf("%s %d", labels(dp.Attributes), dp.Value))
				}
				fmt.Fprintf(w, "  %s: %s\n", m.Name, strings.Join(parts, ", "))
			}
		}
	}
	return nil
}

// labels renders an attribute set briefly: "class=retryable
// from_retry_after=false", keeping only the last part of each key.
func labels(set attribute.Set) string {
	var vals []string
	for _, kv := range set.ToSlice() {
		k := string(kv.Key)
		k = k[strings.LastIndex(k, ".")+1:]
		vals = append(vals, k+"="+kv.Value.String())
	}
	if len(vals) == 0 {
		return "all"
	}
	return strings.Join(vals, " ")
}
