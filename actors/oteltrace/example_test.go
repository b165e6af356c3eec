package oteltrace_test

import (
	"context"
	"fmt"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/actors/oteltrace"
)

type (
	WhoReq struct{}
	Who    struct{ TraceID, Parent string }
)

// Example installs the propagator in every context (in Setup) and calls a
// function in a child within a span: the handler's span is a child of the
// caller's, in the same trace.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tp := sdktrace.NewTracerProvider() // an application adds its exporter
	defer tp.Shutdown(ctx)
	tracer := tp.Tracer("example")

	setup := func(n *actors.Node) error {
		if err := oteltrace.Setup(n); err != nil {
			return err
		}
		ep, err := calls.New(n, calls.Config{})
		if err != nil {
			return err
		}
		return calls.Handle(ep, "who", func(ctx context.Context, _ *WhoReq) (*Who, error) {
			_, span := tracer.Start(ctx, "who")
			defer span.End()
			parent := trace.SpanContextFromContext(ctx) // the caller's span, remote
			return &Who{TraceID: span.SpanContext().TraceID().String(), Parent: parent.SpanID().String()}, nil
		})
	}
	tree, err := actorstest.Start(ctx, actorstest.Shape{Setup: setup, Children: []actorstest.Shape{{Name: "worker"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tree.Close(ctx)

	ctx, span := tracer.Start(ctx, "caller")
	defer span.End()
	who, err := calls.Call[WhoReq, Who](ctx, calls.Of(tree.Root()), tree.Context("worker").ID(), "who", &WhoReq{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("same trace:", who.TraceID == span.SpanContext().TraceID().String())
	fmt.Println("caller's span is the parent:", who.Parent == span.SpanContext().SpanID().String())
	// Output:
	// same trace: true
	// caller's span is the parent: true
}
