package otelmetrics_test

import (
	"context"
	"fmt"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/otelmetrics"
)

// Example registers a root's link instruments with an OpenTelemetry SDK
// meter provider (a manual reader here; an application passes the
// provider of its exporter, Prometheus or OTLP) and collects once.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := actorstest.Start(ctx, actorstest.Shape{Children: []actorstest.Shape{{Name: "worker"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close(ctx)

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	reg, err := otelmetrics.Register(tr.Root(), mp)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Unregister()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == "spindle.link.queue.size" {
			g := m.Data.(metricdata.Gauge[int64])
			v, _ := g.DataPoints[0].Attributes.Value(otelmetrics.AttrPeerName)
			fmt.Println(m.Name, m.Unit, v.AsString())
		}
	}
	// Output:
	// spindle.link.queue.size By worker
}
