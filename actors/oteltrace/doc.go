// Package oteltrace carries OpenTelemetry trace context (W3C traceparent
// and tracestate) across Spindle contexts: a span started before a
// request continues in the callee's context, in another process or on
// another host.
//
// It implements actors.Propagator with an OpenTelemetry TextMapPropagator
// (propagation.TraceContext by default). The core packages never import
// OpenTelemetry (internal/layout checks it); they only copy the headers
// this package sets into the key/value block of the frames of
// context-taking sends (Node.Request, Node.SendContext,
// Node.SendKindContext, so calls.Call, calls.CallService and calls.Go)
// and back into the callee's ctx.
//
// # Usage
//
// Install the propagator in every context of the tree: in Config.Setup,
// which runs in the root and in every child (spawn.Main's included).
//
//	setup := func(n *actors.Node) error {
//		if err := oteltrace.Setup(n); err != nil {
//			return err
//		}
//		... register handlers ...
//	}
//
// A calls handler's ctx then carries the caller's span context as its
// remote parent (tracer.Start(ctx, ...) makes a child span of the caller's
// span); an actor answering a Request reads it from its message:
//
//	ctx := node.ExtractContext(context.Background(), c.MessageHeader())
//
// Spans are exported by each process's own TracerProvider; this package
// only carries the context between them.
//
// # Bounds
//
// The headers are bounded by the core (actors.MaxPropagated,
// actors.MaxPropagatedValue): a traceparent or tracestate over 1 KiB is
// neither sent nor read, and what a hostile context sends is parsed by
// OpenTelemetry's TraceContext, which ignores what is not a valid
// traceparent (the callee's spans then start a new trace).
//
// # Concurrency
//
// A Propagator is safe for concurrent use.
package oteltrace
