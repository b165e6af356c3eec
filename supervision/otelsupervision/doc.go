// Package otelsupervision exposes the events of a node's supervisors
// (package supervision) as OpenTelemetry metric instruments: restarts,
// failures by cause, and give-ups.
//
// It subscribes to the node's event stream, on which every Supervisor
// publishes its events (Config.OnEvent stays free for the application),
// and adds to synchronous counters, once per event: nothing runs per
// frame or per message. It is an adapter of its own because package
// actors/otelmetrics may not import supervision (internal/layout: feature
// packages never import spawn or supervision), and the core never imports
// OpenTelemetry.
//
// # Usage
//
//	reg, err := otelsupervision.Register(node, meterProvider)
//	...
//	defer reg.Unregister()
//	sup, err := supervision.Start(ctx, node, supervision.Config{...})
//
// Instrument names, units and attributes: docs/observability.md.
//
// # Concurrency
//
// Register and Unregister are safe for concurrent use; the counters are
// updated on the goroutine of the supervisor that published the event.
package otelsupervision
