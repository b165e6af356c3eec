package actors

import (
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	lnk "github.com/spindle-go/spindle/actors/internal/link"
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

// DeadError reports a message that could not be delivered, with the reason
// carried by the IS_DEAD reply. It matches ErrContextDead, ErrNoActor or
// ErrRejected under errors.Is, depending on Code.
type DeadError struct {
	Context uint32        // context ID of the target
	PID     *actor.PID    // target, when known
	Code    wire.DeadCode // why, as a class
	Reason  string        // why, in words ("exit status 137", "protocol error: ...")
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

// ProtocolError is the reason a link was closed because the peer sent bytes
// that do not follow the protocol; Err says how (it has Unwrap).
type ProtocolError = lnk.ProtocolError
