package otelmetrics_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/otelmetrics"
)

// collect reads every metric of r by name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func attr(s attribute.Set, k attribute.Key) string {
	v, _ := s.Value(k)
	return v.Emit()
}

// TestRegister_LinkInstruments: after a round trip the root's link to its
// worker shows as counters and gauges with the peer's attributes; after
// Unregister nothing is observed.
func TestRegister_LinkInstruments(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Config: &actors.Config{HeartbeatInterval: 5 * time.Millisecond},
		Children: []actorstest.Shape{{Name: "worker"}}})
	root := tr.Root()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := root.SpawnRemote(ctx, tr.Context("worker").ID(), "no-such-kind", ""); err == nil {
		t.Fatal("spawned an unknown kind")
	}
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	reg, err := otelmetrics.Register(root, mp)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, r)
	for _, name := range []string{"spindle.link.frames", "spindle.link.io", "spindle.link.dead_replies", "spindle.link.dropped",
		"spindle.link.queue.size", "spindle.link.queue.high_water", "spindle.link.chunks.in_flight", "spindle.link.rtt",
		"spindle.link.rtt.smoothed"} {
		if _, ok := got[name]; !ok {
			t.Fatalf("no %s in %v", name, got)
		}
	}
	frames, ok := got["spindle.link.frames"].Data.(metricdata.Sum[int64])
	if !ok || !frames.IsMonotonic || len(frames.DataPoints) != 2 {
		t.Fatalf("spindle.link.frames: %+v", got["spindle.link.frames"].Data)
	}
	for _, dp := range frames.DataPoints {
		if attr(dp.Attributes, otelmetrics.AttrPeerName) != "worker" || attr(dp.Attributes, otelmetrics.AttrLinkRole) != "child" ||
			dp.Value <= 0 {
			t.Fatalf("data point %v = %d", dp.Attributes.ToSlice(), dp.Value)
		}
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	for name, m := range collect(t, r) {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok && len(s.DataPoints) > 0 {
			t.Fatalf("%s still observed after Unregister", name)
		}
	}
}
