package otelsupervision

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/eventstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/supervision"
	"github.com/spindle-go/spindle/wire"
)

// ScopeName is the instrumentation scope of the meter Register uses.
const ScopeName = "github.com/spindle-go/spindle/supervision/otelsupervision"

// Attribute keys of the observations.
const (
	AttrSupervisor = attribute.Key("spindle.supervisor.name") // supervision.Config.Name
	AttrChild      = attribute.Key("spindle.child.name")      // supervision.ContextSpec.Name
	// AttrErrorType is OpenTelemetry's error.type: the failure's cause,
	// low in cardinality: the wire.Cause of a death ("exit", "heartbeat",
	// "closed", "protocol", ...), "start" for a start that failed, and
	// "_OTHER" for anything else.
	AttrErrorType = attribute.Key("error.type")
	// AttrScope says what gave up: "child" (a child over its own
	// Intensity, its siblings go on) or "supervisor" (over the Policy).
	AttrScope = attribute.Key("spindle.supervision.scope")
)

// Registration is the instruments of one node's supervisors; Unregister
// stops counting.
type Registration struct {
	n   *actors.Node
	mu  sync.Mutex
	sub *eventstream.Subscription
}

// Unregister stops counting the node's supervision events. It is safe to
// call more than once.
func (r *Registration) Unregister() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sub != nil {
		r.n.System().EventStream.Unsubscribe(r.sub)
		r.sub = nil
	}
	return nil
}

type instruments struct {
	starts, restarts, failures, giveUps metric.Int64Counter
}

// Register creates the supervision instruments on mp's meter ScopeName
// and counts the events of every supervisor of n (those started before
// and after it):
//
//	spindle.supervision.starts    {start}    ChildStarted: a child up for the first time
//	spindle.supervision.restarts  {restart}  ChildRestarted: a child up again
//	spindle.supervision.failures  {failure}  ChildFailed, with error.type
//	spindle.supervision.give_ups  {give_up}  ChildFailed.GaveUp (scope child), SupervisorGaveUp (scope supervisor)
//
// each with spindle.supervisor.name and (but a supervisor's give-up)
// spindle.child.name.
func Register(n *actors.Node, mp metric.MeterProvider) (*Registration, error) {
	m := mp.Meter(ScopeName)
	var in instruments
	var errs [4]error
	in.starts, errs[0] = m.Int64Counter("spindle.supervision.starts", metric.WithUnit("{start}"),
		metric.WithDescription("Supervised child contexts up for the first time."))
	in.restarts, errs[1] = m.Int64Counter("spindle.supervision.restarts", metric.WithUnit("{restart}"),
		metric.WithDescription("Supervised child contexts restarted (up again, with a new context ID)."))
	in.failures, errs[2] = m.Int64Counter("spindle.supervision.failures", metric.WithUnit("{failure}"),
		metric.WithDescription("Supervised child contexts that died or failed to start, by cause (error.type)."))
	in.giveUps, errs[3] = m.Int64Counter("spindle.supervision.give_ups", metric.WithUnit("{give_up}"),
		metric.WithDescription("Children and supervisors given up after exceeding their restart intensity."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("otelsupervision: %w", err)
	}
	sub := n.System().EventStream.Subscribe(func(evt any) {
		if ev, ok := evt.(supervision.Event); ok {
			in.record(ev)
		}
	})
	return &Registration{n: n, sub: sub}, nil
}

// record adds one event to the counters.
func (in *instruments) record(ev supervision.Event) {
	ctx := context.Background()
	switch e := ev.(type) {
	case *supervision.ChildStarted:
		in.starts.Add(ctx, 1, metric.WithAttributes(AttrSupervisor.String(e.Supervisor), AttrChild.String(e.Child)))
	case *supervision.ChildRestarted:
		in.restarts.Add(ctx, 1, metric.WithAttributes(AttrSupervisor.String(e.Supervisor), AttrChild.String(e.Child)))
	case *supervision.ChildFailed:
		in.failures.Add(ctx, 1, metric.WithAttributes(AttrSupervisor.String(e.Supervisor), AttrChild.String(e.Child),
			AttrErrorType.String(ErrorType(e.Reason))))
		if e.GaveUp {
			in.giveUps.Add(ctx, 1, metric.WithAttributes(AttrSupervisor.String(e.Supervisor), AttrChild.String(e.Child),
				AttrScope.String("child")))
		}
	case *supervision.SupervisorGaveUp:
		in.giveUps.Add(ctx, 1, metric.WithAttributes(AttrSupervisor.String(e.Supervisor), AttrScope.String("supervisor")))
	}
}

// ErrorType returns the error.type of a child's failure reason: "start"
// for a *supervision.StartError, else the death's cause
// (actors.CauseOf: "exit", "heartbeat", "closed", "protocol", ...), and
// "_OTHER" (OpenTelemetry's fallback value) when it has none.
func ErrorType(reason error) string {
	var se *supervision.StartError
	var de *actors.DeadError
	switch {
	case errors.As(reason, &se):
		return "start"
	case errors.As(reason, &de) && de.Cause != wire.CauseUnknown:
		return de.Cause.String()
	}
	if c := actors.CauseOf(reason); c != wire.CauseUnknown {
		return c.String()
	}
	return "_OTHER"
}
