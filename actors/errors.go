package actors

import (
	"errors"
	"fmt"
	"io"

	"github.com/asynkron/protoactor-go/actor"

	lnk "github.com/spindle-go/spindle/actors/internal/link"
	"github.com/spindle-go/spindle/actors/internal/route"
	"github.com/spindle-go/spindle/wire"
)

// ErrContextDead is the IS_DEAD sentinel: the context that hosts the target is
// unreachable (its link broke, its process exited, or no route leads to it).
// Errors returned by Request and Send for that reason satisfy
// errors.Is(err, ErrContextDead); errors.As with *DeadError gives the reason.
var ErrContextDead = errors.New("actors: context is dead")

// ErrNoActor means the target context is alive but has no actor with that ID.
var ErrNoActor = errors.New("actors: no such actor")

// ErrRejected means the receiving context refused the message: an unknown
// message type or kind, a payload it could not decode, or a policy refusal.
var ErrRejected = errors.New("actors: message rejected")

// ErrNodeClosed is returned by calls on a Node that has shut down.
var ErrNodeClosed = errors.New("actors: node closed")

// ErrNotRemote is returned when an operation that needs another context is
// given a PID of this context.
var ErrNotRemote = errors.New("actors: PID is not in another context")

// ErrProtocol is the sentinel behind *ProtocolError, and the cause of a
// context declared dead because a link's peer broke the protocol.
var ErrProtocol = lnk.ErrProtocol

// ErrExited is the cause of a context whose process exited, as known over
// the wire: a *DeadError for a death seen by another context wraps a
// *RemoteExitError, which matches it. A death seen by the context that
// started the process wraps the spawn method's own exit error instead.
var ErrExited = errors.New("actors: context process exited")

// ErrWriteStalled is the cause of a link declared dead because its writer
// made no progress (the peer stopped reading).
var ErrWriteStalled = lnk.ErrWriteStalled

// ErrRefused is the cause of a message refused by policy: the sender has no
// authority for it (a SYSTEM stop from a sibling), claims a sender in
// another context, or crosses between isolated child links.
var ErrRefused = errors.New("actors: refused by policy")

// ErrWatchLimit is the cause of a remote watch refused because the
// watcher's context already holds Config.MaxRemoteWatches watches on the
// watched actor's context, or because an actor ID in it is longer than
// MaxWatchIDLen.
var ErrWatchLimit = errors.New("actors: remote watch limit")

// ErrNoRoute is the cause of a message for a context that no route leads to.
var ErrNoRoute = errors.New("actors: no route to context")

// DeadError reports a message that could not be delivered, with the reason
// carried by the IS_DEAD reply. It matches ErrContextDead, ErrNoActor or
// ErrRejected under errors.Is, depending on Code, and unwraps to its cause
// (Err), so that errors.Is(err, ErrHeartbeatTimeout) and errors.As with the
// spawn method's exit error work on a failed request and on
// ContextDown.Reason.
type DeadError struct {
	Context uint32        // context ID of the target
	PID     *actor.PID    // target, when known
	Code    wire.DeadCode // why, as a class
	Reason  string        // why, in words ("exit status 137", "protocol error: ...")
	// Cause is the stable code of Err (wire.CauseUnknown when not known).
	Cause wire.Cause
	// Err is the cause: where this context saw it, the error itself (a
	// *HeartbeatError, a *ProtocolError, the spawn method's exit error);
	// where it came over the wire, a *RemoteCause or *RemoteExitError
	// rebuilt from the cause code. Nil when no cause is known.
	Err error
}

func (e *DeadError) Error() string {
	target := fmt.Sprintf("context %d", e.Context)
	if e.PID != nil {
		target = FormatPID(e.PID)
	}
	switch e.Code {
	case wire.DeadNoActor:
		return fmt.Sprintf("actors: no actor %s: %s", target, e.Reason)
	case wire.DeadRejected:
		return fmt.Sprintf("actors: %s rejected the message: %s", target, e.Reason)
	default:
		return fmt.Sprintf("actors: %s is dead: %s", target, e.Reason)
	}
}

// Is makes errors.Is(err, ErrContextDead) (or ErrNoActor, ErrRejected) work.
func (e *DeadError) Is(target error) bool {
	switch target {
	case ErrContextDead:
		return e.Code == wire.DeadUnreachable
	case ErrNoActor:
		return e.Code == wire.DeadNoActor
	case ErrRejected:
		return e.Code == wire.DeadRejected
	}
	return false
}

// Unwrap returns the cause, Err.
func (e *DeadError) Unwrap() error { return e.Err }

// RemoteCause is the cause of a death or refusal that came over the wire as
// a stable code and text. It matches the sentinel of its code under
// errors.Is: ErrHeartbeatTimeout, ErrProtocol, ErrWriteStalled, ErrCongested, ErrRefused,
// ErrWatchLimit, ErrNoRoute, ErrNodeClosed.
type RemoteCause struct {
	Cause wire.Cause
	Text  string // the reason as the context that saw it wrote it
}

func (e *RemoteCause) Error() string { return e.Text }

// Is makes errors.Is(err, <the sentinel of Cause>) work.
func (e *RemoteCause) Is(target error) bool {
	s := causeSentinel(e.Cause)
	return s != nil && target == s
}

// RemoteExitError is the exit of a context's process as reported over the
// wire (wire.CauseExit) by the context that started it. It matches
// ErrExited and implements ExitCode, like the exit errors of spawn methods.
type RemoteExitError struct {
	Status int    // the exit status: 128+N for a death by signal N
	Text   string // the reason as the parent of the process wrote it
}

func (e *RemoteExitError) Error() string { return e.Text }

// ExitCode returns the exit status.
func (e *RemoteExitError) ExitCode() int { return e.Status }

// Is makes errors.Is(err, ErrExited) work.
func (e *RemoteExitError) Is(target error) bool { return target == ErrExited }

// causeSentinel returns the sentinel that errors of cause c match.
func causeSentinel(c wire.Cause) error {
	switch c {
	case wire.CauseHeartbeat:
		return ErrHeartbeatTimeout
	case wire.CauseProtocol:
		return ErrProtocol
	case wire.CauseExit:
		return ErrExited
	case wire.CauseStalled:
		return ErrWriteStalled
	case wire.CauseCongested:
		return ErrCongested
	case wire.CausePolicy:
		return ErrRefused
	case wire.CauseWatchLimit:
		return ErrWatchLimit
	case wire.CauseNoRoute:
		return ErrNoRoute
	case wire.CauseShutdown:
		return ErrNodeClosed
	}
	return nil
}

// exitCoder is implemented by exit errors that know the exit status
// (*exec.ExitError, the exit errors of spawn methods, *RemoteExitError).
type exitCoder interface{ ExitCode() int }

// causeOf classifies a local cause for the wire: its code and, for an exit,
// the exit status.
// CauseOf returns the stable cause code that an IS_DEAD for a death of
// reason err would carry (wire.CauseExit for an exit error of any spawn
// method, wire.CauseHeartbeat for a heartbeat timeout, ...), as the
// cause of a *DeadError; wire.CauseUnknown when err carries none. It is
// for metrics and logs that want a low-cardinality name of a reason.
func CauseOf(err error) wire.Cause {
	c, _ := causeOf(err)
	return c
}

func causeOf(err error) (wire.Cause, int32) {
	var rc *RemoteCause
	var ec exitCoder
	var pe *ProtocolError
	switch {
	case err == nil:
		return wire.CauseUnknown, 0
	case errors.As(err, &rc):
		return rc.Cause, 0
	case errors.Is(err, ErrHeartbeatTimeout):
		return wire.CauseHeartbeat, 0
	case errors.Is(err, ErrWriteStalled):
		return wire.CauseStalled, 0
	case errors.Is(err, ErrCongested):
		return wire.CauseCongested, 0
	case errors.As(err, &pe) || errors.Is(err, ErrProtocol):
		return wire.CauseProtocol, 0
	case errors.As(err, &ec):
		return wire.CauseExit, int32(ec.ExitCode())
	case errors.Is(err, ErrWatchLimit):
		return wire.CauseWatchLimit, 0
	case errors.Is(err, ErrRefused):
		return wire.CausePolicy, 0
	case errors.Is(err, ErrNoRoute):
		return wire.CauseNoRoute, 0
	case errors.Is(err, ErrNodeClosed):
		return wire.CauseShutdown, 0
	case errors.Is(err, errLinkClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe):
		return wire.CauseClosed, 0
	}
	return wire.CauseUnknown, 0
}

// remoteCause rebuilds the cause of a dead reply or DEL_ROUTE that came
// over the wire; nil for CauseUnknown.
func remoteCause(c wire.Cause, detail int32, text string) error {
	switch c {
	case wire.CauseUnknown:
		return nil
	case wire.CauseExit:
		return &RemoteExitError{Status: int(detail), Text: text}
	}
	return &RemoteCause{Cause: c, Text: text}
}

// newDeadError builds the *DeadError of context id from a cause known here
// (err may be nil).
func newDeadError(id uint32, pid *actor.PID, code wire.DeadCode, reason string, err error) *DeadError {
	cause, _ := causeOf(err)
	return &DeadError{Context: id, PID: pid, Code: code, Reason: reason, Cause: cause, Err: err}
}

// deadReplyError builds the *DeadError a dead reply reports.
func deadReplyError(d wire.DeadReply, pid *actor.PID) *DeadError {
	return &DeadError{Context: d.TargetCtx, PID: pid, Code: d.Code, Reason: d.Reason, Cause: d.Cause,
		Err: remoteCause(d.Cause, d.Detail, d.Reason)}
}

// withCause sets the cause fields of a dead reply from err.
func withCause(d wire.DeadReply, err error) wire.DeadReply {
	d.Cause, d.Detail = causeOf(err)
	return d
}

// ProtocolError is the reason a link was closed because the peer sent bytes
// that do not follow the protocol; Err says how (it has Unwrap). It
// matches ErrProtocol.
type ProtocolError = lnk.ProtocolError

// deadRecordError builds the *DeadError of a dead context from what the
// route table keeps of it: the local cause itself when this context saw
// the death, else one rebuilt from the cause code.
func deadRecordError(id uint32, pid *actor.PID, d route.Dead) *DeadError {
	err := d.Err
	if err == nil {
		err = remoteCause(d.Cause, d.Detail, d.Reason)
	}
	return &DeadError{Context: id, PID: pid, Code: d.Code, Reason: d.Reason, Cause: d.Cause, Err: err}
}

// localCause returns err unless it was rebuilt from the wire (the route
// table keeps the code of those, not the error).
func localCause(err error) error {
	var rc *RemoteCause
	var rx *RemoteExitError
	if errors.As(err, &rc) || errors.As(err, &rx) {
		return nil
	}
	return err
}
