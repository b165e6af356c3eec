// Package otelmetrics exposes a node's link counters (actors.LinkStats)
// as OpenTelemetry metric instruments (go.opentelemetry.io/otel/metric),
// so that an application exports them with the SDK and exporter of its
// choice (Prometheus through OTel's Prometheus exporter, OTLP, ...).
//
// The instruments are asynchronous: the SDK calls one callback per
// collection, which takes one snapshot (Node.LinkStats) and observes every
// link. Nothing here runs per frame, and the core packages never import
// OpenTelemetry (internal/layout checks it).
//
// # Usage
//
//	reg, err := otelmetrics.Register(node, meterProvider)
//	...
//	defer reg.Unregister()
//
// Instrument names, units and attributes: docs/observability.md.
//
// # Concurrency
//
// Register and Unregister are safe for concurrent use; the callback runs
// on the SDK's collecting goroutine.
package otelmetrics
