package oteltrace_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/oteltrace"
)

// BenchmarkInject: what one send under a new span's ctx costs in the
// propagator (the node reuses it for later sends under the same ctx).
func BenchmarkInject(b *testing.B) {
	p := oteltrace.New(nil)
	_, span := tracer().Start(context.Background(), "b")
	defer span.End()
	ctx := trace.ContextWithSpan(context.Background(), span)
	b.ReportAllocs()
	for b.Loop() {
		var h actors.Headers
		p.Inject(ctx, &h)
	}
}

// BenchmarkExtract: what a callee pays to rebuild the span context of a
// traceparent (a calls handler's ctx, or an actor's ExtractContext).
func BenchmarkExtract(b *testing.B) {
	p := oteltrace.New(nil)
	var h actors.Headers
	h.Set("traceparent", goodParent)
	b.ReportAllocs()
	for b.Loop() {
		if !trace.SpanContextFromContext(p.Extract(context.Background(), &h)).IsValid() {
			b.Fatal("not extracted")
		}
	}
}

// BenchmarkInjectOTel and BenchmarkExtractOTel are OpenTelemetry's own
// TraceContext on the same input: the reference of the fast paths.
func BenchmarkInjectOTel(b *testing.B) {
	_, span := tracer().Start(context.Background(), "b")
	defer span.End()
	ctx := trace.ContextWithSpan(context.Background(), span)
	b.ReportAllocs()
	for b.Loop() {
		var h actors.Headers
		propagation.TraceContext{}.Inject(ctx, &h)
	}
}

func BenchmarkExtractOTel(b *testing.B) {
	var h actors.Headers
	h.Set("traceparent", goodParent)
	b.ReportAllocs()
	for b.Loop() {
		if !trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), &h)).IsValid() {
			b.Fatal("not extracted")
		}
	}
}
