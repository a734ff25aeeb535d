package transport

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// waitsAndRefusals collects reader's metrics and returns how many waits
// resilient.<layer>.wait.duration recorded, and how many refusals
// resilient.<layer>.refusals counted for key (pacing and limit name them
// alike).
func waitsAndRefusals(t *testing.T, reader *sdkmetric.ManualReader, layer, key string) (waits uint64, refusals int64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Name == "resilient."+layer+".wait.duration" {
					for _, p := range d.DataPoints {
						waits += p.Count
					}
				}
			case metricdata.Sum[int64]:
				if m.Name == "resilient."+layer+".refusals" {
					for _, p := range d.DataPoints {
						if k, _ := p.Attributes.Value(attribute.Key("resilient." + layer + ".key")); k.AsString() == key {
							refusals += p.Value
						}
					}
				}
			}
		}
	}
	return waits, refusals
}
