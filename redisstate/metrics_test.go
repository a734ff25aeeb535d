package redisstate

import (
	"context"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// gauge collects reader's metrics and returns the last value of name.
func collected(t *testing.T, reader *sdkmetric.ManualReader, name string) (int64, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				return d.DataPoints[0].Value, true
			case metricdata.Sum[int64]:
				return d.DataPoints[0].Value, true
			}
		}
	}
	return 0, false
}

// TestMetricsReportHealth checks the store's metric: healthy while Redis
// answers, 0 with failures counted once it is gone, and nothing reported
// after Close.
func TestMetricsReportHealth(t *testing.T) {
	srv := startRedis(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	s, err := New(srv.newClient(), Options{Namespace: "m", OpTimeout: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := collected(t, reader, "resilient.fleet.healthy"); !ok || v != 1 {
		t.Fatalf("resilient.fleet.healthy = %d (reported %v) with Redis up, want 1", v, ok)
	}
	srv.kill()
	s.Lease(fleet.KindBreaker, "k", time.Second) // a call that meets the loss
	eventually(t, 5*time.Second, "the store notices the loss", func() bool { return !s.Healthy() })
	if v, _ := collected(t, reader, "resilient.fleet.healthy"); v != 0 {
		t.Errorf("resilient.fleet.healthy = %d with Redis down, want 0", v)
	}
	if v, ok := collected(t, reader, "resilient.fleet.redis.failures"); !ok || v == 0 {
		t.Errorf("resilient.fleet.redis.failures = %d (reported %v) with Redis down, want > 0", v, ok)
	}
	s.Close()
	if _, ok := collected(t, reader, "resilient.fleet.healthy"); ok {
		t.Error("a closed store still reports resilient.fleet.healthy")
	}
}
