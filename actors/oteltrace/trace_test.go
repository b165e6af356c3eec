package oteltrace_test

import (
	"context"
	"os"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
)

// TestCall_ChildProcess: a span started in the root before calls.Call and
// calls.CallService continues in the handler in a child process: the
// handler's span (recorded by the child's own tracer provider) has the
// root's trace ID and the root's span as its remote parent.
func TestCall_ChildProcess(t *testing.T) {
	root := newRoot(t)
	c := startChild(t, root, "worker")
	ep := calls.Of(root)
	ctx, span := tracer().Start(ctxWith(t), "caller")
	defer span.End()

	got, err := calls.Call[TraceReq, Traced](ctx, ep, c.ID(), "traced", &TraceReq{})
	if err != nil {
		t.Fatal(err)
	}
	checkChildOf(t, "Call", span, got, c.Pid())

	got, err = calls.CallService[TraceReq, Traced](ctx, ep, c.ID(), "trace", "span", &TraceReq{})
	if err != nil {
		t.Fatal(err)
	}
	checkChildOf(t, "CallService", span, got, c.Pid())

	// Without a span in ctx nothing is carried: the handler's span is a
	// root span of a trace of its own.
	got, err = calls.Call[TraceReq, Traced](ctxWith(t), ep, c.ID(), "traced", &TraceReq{})
	if err != nil {
		t.Fatal(err)
	}
	if got.TraceID == span.SpanContext().TraceID().String() || got.Parent != (trace.SpanID{}).String() {
		t.Fatalf("untraced call: callee's span %+v has a parent", got)
	}
}

// TestRequest_ChildProcess: actors.Request carries the span to an actor in
// a child process, which rebuilds it with Node.ExtractContext from its
// message's headers.
func TestRequest_ChildProcess(t *testing.T) {
	root := newRoot(t)
	c := startChild(t, root, "worker")
	pid, err := root.SpawnRemote(ctxWith(t), c.ID(), "tracer", "tracer")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tracer().Start(ctxWith(t), "caller")
	defer span.End()
	got, err := actors.Request[*Traced](ctx, root, pid, &TraceReq{})
	if err != nil {
		t.Fatal(err)
	}
	checkChildOf(t, "Request", span, got, c.Pid())

	// The caller's own headers travel too, and a header the caller set
	// itself is not overwritten.
	env := &actor.MessageEnvelope{Message: &TraceReq{}, Header: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	got, err = actors.Request[*Traced](ctx, root, pid, env)
	if err != nil {
		t.Fatal(err)
	}
	if got.TraceID != "0af7651916cd43dd8448eb211c80319c" || got.Parent != "b7ad6b7169203331" {
		t.Fatalf("caller's own traceparent: callee's span %+v", got)
	}
}

// TestGo_ChildProcess: what calls.Go runs gets ctx's span, so the call it
// makes continues the trace in the child.
func TestGo_ChildProcess(t *testing.T) {
	root := newRoot(t)
	c := startChild(t, root, "worker")
	ep := calls.Of(root)
	results := make(chan *calls.Result[Traced], 1)
	to := root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
		if r, ok := ac.Message().(*calls.Result[Traced]); ok {
			results <- r
		}
	}))
	defer root.System().Root.Stop(to)
	ctx, span := tracer().Start(ctxWith(t), "caller")
	defer span.End()
	calls.Go(ctx, ep, to, "t", func(ctx context.Context) (*Traced, error) {
		return calls.Call[TraceReq, Traced](ctx, ep, c.ID(), "traced", &TraceReq{})
	})
	var r *calls.Result[Traced]
	select {
	case r = <-results:
	case <-ctx.Done():
		t.Fatal("no Result")
	}
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	checkChildOf(t, "Go", span, r.Resp, c.Pid())
}

// TestCall_Local: a call a context makes to itself carries the span too
// (same process: the parent is still marked remote, as it went through
// the propagator).
func TestCall_Local(t *testing.T) {
	root := newRoot(t)
	ctx, span := tracer().Start(ctxWith(t), "caller")
	defer span.End()
	got, err := calls.Call[TraceReq, Traced](ctx, calls.Of(root), root.ID(), "traced", &TraceReq{})
	if err != nil {
		t.Fatal(err)
	}
	checkChildOf(t, "local Call", span, got, os.Getpid())
}

// TestCall_UntracedCallee: a child without a propagator ignores the
// headers (its handler's span starts a trace of its own), and a root
// without one sends none.
func TestCall_UntracedCallee(t *testing.T) {
	root := newRoot(t)
	c := startChild(t, root, "untraced")
	ctx, span := tracer().Start(ctxWith(t), "caller")
	defer span.End()
	got, err := calls.Call[TraceReq, Traced](ctx, calls.Of(root), c.ID(), "traced", &TraceReq{})
	if err != nil {
		t.Fatal(err)
	}
	if got.TraceID == span.SpanContext().TraceID().String() || got.ParentRemote {
		t.Fatalf("untraced callee continued the trace: %+v", got)
	}

	root.SetPropagator(nil)
	w := startChild(t, root, "worker")
	got, err = calls.Call[TraceReq, Traced](ctx, calls.Of(root), w.ID(), "traced", &TraceReq{})
	if err != nil {
		t.Fatal(err)
	}
	if got.TraceID == span.SpanContext().TraceID().String() || got.ParentRemote {
		t.Fatalf("a root without propagator sent its trace: %+v", got)
	}
}
