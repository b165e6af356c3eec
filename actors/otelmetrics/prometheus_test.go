package otelmetrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/otelmetrics"
)

// TestPrometheusEndpoint: through OTel's Prometheus exporter, a scrape of
// the endpoint shows the root's link counters with the peer's labels.
func TestPrometheusEndpoint(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Children: []actorstest.Shape{{Name: "worker"}}})
	preg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(preg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	reg, err := otelmetrics.Register(tr.Root(), mp)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	srv := httptest.NewServer(promhttp.HandlerFor(preg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"spindle_link_frames", "spindle_link_io_bytes", "spindle_link_queue_high_water_bytes",
		`spindle_peer_name="worker"`, `network_io_direction="transmit"`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("no %s in the scrape:\n%s", want, body)
		}
	}
}

// TestContextDownCounted: a child that goes down is counted once on
// spindle.context.down, with its dead code and cause.
func TestContextDownCounted(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Children: []actorstest.Shape{{Name: "worker"}}})
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	reg, err := otelmetrics.Register(tr.Root(), mp)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	tr.Context("worker").Cut()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, ok := collect(t, r)["spindle.context.down"]; ok {
			s := m.Data.(metricdata.Sum[int64])
			if len(s.DataPoints) != 1 || s.DataPoints[0].Value != 1 || attr(s.DataPoints[0].Attributes, otelmetrics.AttrDeadCode) == "" ||
				attr(s.DataPoints[0].Attributes, otelmetrics.AttrDeadCause) == "" {
				t.Fatalf("spindle.context.down: %+v", s.DataPoints)
			}
			t.Logf("down: %v", s.DataPoints[0].Attributes.ToSlice())
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no spindle.context.down within 10s of the cut")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
