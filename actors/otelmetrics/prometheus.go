package otelmetrics

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Prometheus is an OpenTelemetry MeterProvider whose instruments an
// http.Handler serves in Prometheus's exposition format, through OTel's
// Prometheus exporter, on a registry of its own (the process's default
// registry is left alone). An application registers its nodes'
// instruments on MeterProvider and mounts it where its scraper looks:
//
//	prom, err := otelmetrics.NewPrometheus()
//	...
//	defer prom.Shutdown(ctx)
//	reg, err := otelmetrics.Register(node, prom.MeterProvider)
//	mux.Handle("/metrics", prom)
//
// Names follow OTel's Prometheus conversion: dots become underscores,
// the unit is appended ("_bytes", "_seconds"), counters end in "_total"
// (spindle.link.io is spindle_link_io_bytes_total). Like net/http/pprof
// it has no authentication: mount it on a listener only the operator
// reaches. A Prometheus is safe for concurrent use.
type Prometheus struct {
	// MeterProvider is the provider to register instruments on.
	MeterProvider *sdkmetric.MeterProvider
	handler       http.Handler
}

// NewPrometheus returns a Prometheus with a registry of its own; opts are
// passed to sdkmetric.NewMeterProvider after its reader (a resource,
// views).
func NewPrometheus(opts ...sdkmetric.Option) (*Prometheus, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("otelmetrics: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(append([]sdkmetric.Option{sdkmetric.WithReader(exp)}, opts...)...)
	return &Prometheus{MeterProvider: mp, handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, nil
}

// ServeHTTP serves one scrape: it collects every instrument (the
// asynchronous ones call their callbacks now) and writes them.
func (p *Prometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// Shutdown shuts the MeterProvider down; later scrapes serve nothing of
// it.
func (p *Prometheus) Shutdown(ctx context.Context) error { return p.MeterProvider.Shutdown(ctx) }
