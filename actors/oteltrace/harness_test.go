package oteltrace_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/actors/oteltrace"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/wire"
)

const waitLong = 20 * time.Second

// The messages of the test handlers.
type (
	// TraceReq asks a context to start a span in the ctx it was handed.
	TraceReq struct{}
	// Traced is what the callee's span looked like: its trace, its own
	// span ID, its parent's span ID and whether that parent was remote
	// (it came over a link), as its process's span recorder saw them.
	Traced struct {
		TraceID, SpanID, Parent string
		ParentRemote            bool
		Pid                     int
		Ctx                     uint32
	}
)

// process is this process's tracing: a tracer provider whose spans go to
// an in-memory span recorder. Every process (the test, each child) has one.
var process struct {
	once sync.Once
	rec  *tracetest.SpanRecorder
	tp   *sdktrace.TracerProvider
}

func tracer() trace.Tracer {
	process.once.Do(func() {
		process.rec = tracetest.NewSpanRecorder()
		process.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(process.rec))
	})
	return process.tp.Tracer("oteltrace_test")
}

// handlerSpan starts and ends a span named name in ctx, and reports it as
// the span recorder holds it.
func handlerSpan(ctx context.Context, n *actors.Node, name string) (*Traced, error) {
	_, span := tracer().Start(ctx, name)
	span.End()
	id := span.SpanContext().SpanID()
	for _, s := range process.rec.Ended() {
		if s.SpanContext().SpanID() == id {
			return &Traced{TraceID: s.SpanContext().TraceID().String(), SpanID: id.String(),
				Parent: s.Parent().SpanID().String(), ParentRemote: s.Parent().IsRemote(), Pid: os.Getpid(), Ctx: n.ID()}, nil
		}
	}
	return nil, errors.New("the span is not in the recorder")
}

// setup runs in every context of the tests: the propagator (unless the
// context's name says "untraced"), a calls endpoint with the function
// "traced" and the service "trace" (any context may call it), and the
// actor kind "tracer", which answers a TraceReq with its own span.
func setup(n *actors.Node) error {
	if n.Name() != "untraced" {
		if err := oteltrace.Setup(n); err != nil {
			return err
		}
	}
	if err := wire.Register[TraceReq](n.Registry(), "oteltrace_test.TraceReq"); err != nil {
		return err
	}
	if err := wire.Register[Traced](n.Registry(), "oteltrace_test.Traced"); err != nil {
		return err
	}
	ep, err := calls.New(n, calls.Config{})
	if err != nil {
		return err
	}
	traced := func(ctx context.Context, _ *TraceReq) (*Traced, error) { return handlerSpan(ctx, n, "handler") }
	if err := calls.Handle(ep, "traced", traced); err != nil {
		return err
	}
	svc, err := calls.NewService(ep, "trace", calls.ServiceConfig{Policy: calls.AnyContext})
	if err != nil {
		return err
	}
	if err := calls.Method(svc, "span", traced); err != nil {
		return err
	}
	if err := calls.Method(svc, "seen", seen); err != nil {
		return err
	}
	n.RegisterKind("tracer", actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*TraceReq); ok {
			ctx := n.ExtractContext(context.Background(), c.MessageHeader())
			t, err := handlerSpan(ctx, n, "actor")
			if err != nil {
				t = &Traced{}
			}
			c.Respond(t)
		}
	}))
	return nil
}

// Seen is what the "seen" method found in its ctx: the span context the
// caller's headers carried, if any.
type Seen struct {
	Valid   bool
	TraceID string
	State   string
}

func seen(ctx context.Context, _ *TraceReq) (*Seen, error) {
	sc := trace.SpanContextFromContext(ctx)
	return &Seen{Valid: sc.IsValid(), TraceID: sc.TraceID().String(), State: sc.TraceState().String()}, nil
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newRoot(t testing.TB) *actors.Node {
	t.Helper()
	n, err := actors.NewNode(actors.Config{Name: "root", Logger: quietLogger(), Setup: setup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

// startChild starts this test binary as a child context of root.
func startChild(t testing.TB, root *actors.Node, name string) *spawn.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: name}})
	if err != nil {
		t.Fatalf("spawn %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}

func ctxWith(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

// checkChildOf fails unless got is a span of caller's trace whose parent
// is caller, remote, in another process.
func checkChildOf(t *testing.T, what string, caller trace.Span, got *Traced, wantPid int) {
	t.Helper()
	sc := caller.SpanContext()
	if got.TraceID != sc.TraceID().String() || got.Parent != sc.SpanID().String() || !got.ParentRemote {
		t.Fatalf("%s: callee's span %+v; want trace %s, remote parent %s", what, got, sc.TraceID(), sc.SpanID())
	}
	if got.Pid != wantPid {
		t.Fatalf("%s: callee ran in pid %d, want %d", what, got.Pid, wantPid)
	}
	if got.SpanID == sc.SpanID().String() {
		t.Fatalf("%s: callee's span has the caller's span ID", what)
	}
}
