package redisstate

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// registerMetrics reports the Store's health and counters through the
// meter provider of o (OpenTelemetry's global one when nil), read when the
// SDK collects: nothing is recorded on the request path. The registration
// is undone by Close.
func (s *Store) registerMetrics() {
	mp := s.o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter("github.com/resilient-http/resilient/redisstate")
	healthy, err1 := m.Int64ObservableGauge("resilient.fleet.healthy",
		metric.WithDescription("1 while the store shares state through Redis, 0 while it runs on local state"))
	failed, err2 := m.Int64ObservableCounter("resilient.fleet.redis.failures",
		metric.WithDescription("Calls to Redis that failed or timed out"))
	dropped, err3 := m.Int64ObservableCounter("resilient.fleet.writes.kept_local",
		metric.WithDescription("Writes kept local: Redis was down or the publish queue full"))
	ignored, err4 := m.Int64ObservableCounter("resilient.fleet.entries.ignored",
		metric.WithDescription("Messages and entries of an unknown version or shape"))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			otel.Handle(err)
			return
		}
	}
	ns := metric.WithAttributes(attribute.String("resilient.fleet.namespace", s.o.Namespace))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		h := int64(0)
		if s.Healthy() {
			h = 1
		}
		st := s.Stats()
		o.ObserveInt64(healthy, h, ns)
		o.ObserveInt64(failed, int64(st.Failed), ns)
		o.ObserveInt64(dropped, int64(st.Dropped), ns)
		o.ObserveInt64(ignored, int64(st.Ignored), ns)
		return nil
	}, healthy, failed, dropped, ignored)
	if err != nil {
		otel.Handle(err)
		return
	}
	s.metrics = reg
}
