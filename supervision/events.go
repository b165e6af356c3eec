package supervision

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrGaveUp is the sentinel behind *GaveUpError.
var ErrGaveUp = errors.New("supervision: restart intensity exceeded")

// ErrChildGaveUp reports that a child exceeded its own Intensity and is not
// restarted (WaitUp returns it, wrapped in a *WaitError).
var ErrChildGaveUp = errors.New("supervision: child exceeded its own restart intensity")

// ErrDown reports that WaitTried found children that are not up: they
// failed (their last start or incarnation) and are being retried.
var ErrDown = errors.New("supervision: children down")

// ErrStopped reports that the supervisor was stopped (by Stop, or because
// the ctx given to Start ended) while WaitUp waited.
var ErrStopped = errors.New("supervision: supervisor stopped")

// GaveUpError is a supervisor's own failure: more than MaxRestarts restarts
// within Period. It matches ErrGaveUp.
type GaveUpError struct {
	Supervisor string
	Child      string // whose failure was one too many
	Reason     string
	Restarts   int
	Period     time.Duration
	// Cause is the last failure's cause (the child's death reason or its
	// *StartError), with its type intact; nil when it is not known.
	Cause error
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("supervision: %s gave up after %d restarts within %v; last failure of %s: %s",
		e.Supervisor, e.Restarts, e.Period, e.Child, e.Reason)
}

// Is makes errors.Is(err, ErrGaveUp) work.
func (e *GaveUpError) Is(target error) bool { return target == ErrGaveUp }

// Unwrap returns the last failure's cause, so errors.Is and errors.As see
// through the give-up to, say, a heartbeat timeout or an exit status.
func (e *GaveUpError) Unwrap() error { return e.Cause }

// StartError is the failure of one start of a child: its StartFunc failed,
// or the context came up but one of its actors (or its Init) did not.
type StartError struct {
	Child string
	Err   error // what the StartFunc, the spawn or the Init returned
}

func (e *StartError) Error() string { return "start failed: " + e.Err.Error() }

// Unwrap returns the start's own error, with its type.
func (e *StartError) Unwrap() error { return e.Err }

// WaitError is why WaitUp returned before every child was up.
type WaitError struct {
	Supervisor string
	// Down are the children that were not up, each with its LastErr.
	Down []ChildInfo
	// Err is ctx's error, ErrChildGaveUp, ErrDown (WaitTried), ErrStopped
	// or the supervisor's *GaveUpError.
	Err error
}

func (e *WaitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "supervision: %s: %d children not up (", e.Supervisor, len(e.Down))
	for i, ci := range e.Down {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(ci.Name)
		if ci.LastErr != nil {
			b.WriteString(": " + ci.LastErr.Error())
		}
	}
	fmt.Fprintf(&b, "): %v", e.Err)
	return b.String()
}

// Unwrap returns Err and the last errors of the children that were down,
// so errors.Is(err, context.DeadlineExceeded) and errors.As with a
// child's exit error or *StartError both work.
func (e *WaitError) Unwrap() []error {
	out := []error{e.Err}
	for _, ci := range e.Down {
		if ci.LastErr != nil {
			out = append(out, ci.LastErr)
		}
	}
	return out
}

// Event is a supervision event: *ChildStarted, *ChildFailed,
// *ChildRestarted or *SupervisorGaveUp. Events go to Config.OnEvent and
// are published on the actor system's event stream.
type Event interface{ supervisionEvent() }

// Events of a supervisor.
type (
	// ChildStarted: a child context is up for the first time.
	ChildStarted struct {
		Supervisor, Child string
		ID                uint32
	}
	// ChildFailed: a child context died (or failed to start).
	ChildFailed struct {
		Supervisor, Child string
		ID                uint32 // the dead incarnation's context ID (0 if it never started)
		// Reason is the cause with its type intact: the context's death
		// reason (errors.Is(ev.Reason, actors.ErrHeartbeatTimeout),
		// errors.As with the spawn method's exit error) or a *StartError.
		Reason   error
		Restarts int           // restarts within the period, this one included
		Delay    time.Duration // before the restart
		Restart  bool          // false: not restarted (restart type, or GaveUp)
		// GaveUp: the child exceeded its own Intensity; it is not
		// restarted, and its siblings go on.
		GaveUp bool
	}
	// ChildRestarted: a child context is up again, with a new ID.
	ChildRestarted struct {
		Supervisor, Child string
		ID, OldID         uint32
		Restarts          int
	}
	// SupervisorGaveUp: the restart intensity was exceeded.
	SupervisorGaveUp struct {
		Supervisor string
		Err        *GaveUpError
	}
)

func (*ChildStarted) supervisionEvent()     {}
func (*ChildFailed) supervisionEvent()      {}
func (*ChildRestarted) supervisionEvent()   {}
func (*SupervisorGaveUp) supervisionEvent() {}
