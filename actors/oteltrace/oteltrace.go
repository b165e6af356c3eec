package oteltrace

import (
	"context"

	"go.opentelemetry.io/otel/propagation"

	"github.com/spindle-go/spindle/actors"
)

// Propagator is an actors.Propagator made of an OpenTelemetry
// TextMapPropagator. Make one with New.
type Propagator struct {
	p  propagation.TextMapPropagator
	tc bool // p is propagation.TraceContext: Inject and Extract take the fast path (traceparent.go)
}

var (
	_ actors.Propagator          = (*Propagator)(nil)
	_ propagation.TextMapCarrier = (*actors.Headers)(nil)
)

// New returns a Propagator that carries what p injects and extracts; nil
// p means propagation.TraceContext{} (W3C traceparent and tracestate).
// Pass propagation.NewCompositeTextMapPropagator(propagation.TraceContext{},
// propagation.Baggage{}) to carry baggage too (within the core's bounds).
func New(p propagation.TextMapPropagator) *Propagator {
	if p == nil {
		p = propagation.TraceContext{}
	}
	_, tc := p.(propagation.TraceContext)
	return &Propagator{p: p, tc: tc}
}

// Inject sets in h the headers that carry ctx's span context.
func (p *Propagator) Inject(ctx context.Context, h *actors.Headers) {
	if p.tc {
		injectTraceContext(ctx, h)
		return
	}
	p.p.Inject(ctx, h)
}

// Extract returns ctx with the remote span context that h carries; ctx
// when h carries no valid one. A traceparent that is not well-formed
// (ValidTraceparent) is dropped with its tracestate before the
// TextMapPropagator sees them, as W3C Trace Context asks: OpenTelemetry's
// own parser is more lenient (it takes a version 00 traceparent with
// trailing bytes).
func (p *Propagator) Extract(ctx context.Context, h *actors.Headers) context.Context {
	if tp := h.Get(traceparent); tp != "" && !ValidTraceparent(tp) {
		clean := new(actors.Headers)
		for _, k := range h.Keys() {
			if k != traceparent && k != tracestate {
				clean.Set(k, h.Get(k))
			}
		}
		h = clean
	}
	if p.tc {
		return extractTraceContext(ctx, h)
	}
	return p.p.Extract(ctx, h)
}

// Fields returns the header keys of the TextMapPropagator.
func (p *Propagator) Fields() []string { return p.p.Fields() }

// Setup installs New(nil) on n (Node.SetPropagator). Call it from
// Config.Setup so that every context of the tree carries trace context.
func Setup(n *actors.Node) error {
	n.SetPropagator(New(nil))
	return nil
}
