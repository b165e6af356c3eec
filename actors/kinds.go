package actors

import (
	"errors"
	"fmt"

	"github.com/spindle-go/spindle/wire"
)

// ErrKindTaken is returned by [Node.HandleKind] for a kind that already has
// a handler (every built-in kind has one).
var ErrKindTaken = errors.New("actors: frame kind already handled")

// KindHandler handles one frame of a kind registered with
// [Node.HandleKind], addressed to this context. The frame passed the
// reverse-path check (its source and authority live behind the link it
// arrived on) and was reassembled if it travelled in chunks; f.Raw is valid
// only during the call (copy what you keep).
//
// A handler runs on the reader goroutine of the link the frame arrived on:
// it must not block (hand slow work to a goroutine or an actor), and frames
// of one link are handled one at a time, in order. A non-nil error closes
// that link, with the error as its reason (return one only for a malformed frame;
// answer a refused request with a dead reply instead).
type KindHandler func(f wire.Frame) error

// kindEntry is how the router treats frames of one kind.
type kindEntry struct {
	// local: a link-local kind, handled on arrival (before the
	// reverse-path check and routing) whatever the frame's destination.
	local bool
	// handle handles a frame (a local one, or one addressed here).
	handle func(l *link, f wire.Frame) error
	// bounce fills in the sender of an undeliverable frame's dead reply;
	// nil: the frame needs no sender; returning false: never answer it.
	bounce func(f wire.Frame, d *wire.DeadReply) bool
}

// kindTable is an immutable snapshot; HandleKind copies and swaps it, so
// the reader goroutines look kinds up without locking.
type kindTable map[wire.Kind]kindEntry

// builtinKinds registers the kinds of the node itself; every later kind
// (calls, services, binary forwarding) goes through HandleKind.
func (n *Node) builtinKinds() kindTable {
	never := func(wire.Frame, *wire.DeadReply) bool { return false }
	reply := func(f wire.Frame, d *wire.DeadReply) bool { return bounceRequest(f, d) }
	return kindTable{
		wire.KindPing: {local: true, handle: func(l *link, _ wire.Frame) error {
			l.ping(wire.KindPong) // any bytes prove liveness, PONG answers at once
			return nil
		}},
		wire.KindPong:     {local: true, handle: func(*link, wire.Frame) error { return nil }},
		wire.KindAddRoute: {local: true, handle: n.onAddRoute},
		wire.KindDelRoute: {local: true, handle: n.onDelRoute},
		wire.KindHello: {local: true, handle: func(*link, wire.Frame) error {
			return &ProtocolError{Err: errors.New("unexpected hello after the handshake")}
		}},
		wire.KindChunk:      {handle: n.onChunk},
		wire.KindUser:       {handle: n.onUser, bounce: bounceUser},
		wire.KindSystem:     {handle: func(_ *link, f wire.Frame) error { return n.onSystem(f) }, bounce: never},
		wire.KindDead:       {handle: func(_ *link, f wire.Frame) error { return n.onDead(f) }, bounce: never},
		wire.KindSpawnActor: {handle: func(_ *link, f wire.Frame) error { return n.onSpawnActor(f) }, bounce: reply},
		wire.KindAllocateID: {handle: n.onAllocateID, bounce: reply},
		wire.KindShutdown:   {handle: n.onShutdown},
		wire.KindForwardLog: {handle: n.onForwardLog, bounce: never},
	}
}

// HandleKind registers h for frames of kind addressed to this context: it
// is the seam on which feature packages (calls, services, binary
// forwarding) build their kinds, as x/crypto/ssh's agent builds on
// HandleChannelOpen. Frames of a kind nobody handles are answered with an
// IS_DEAD dead reply (rejected, "unknown kind") and the link stays up.
//
// Register kinds in Config.Setup, so that every context handles them
// before its first frame; HandleKind is safe for concurrent use, and a
// kind registered later applies to frames read after it returns. A kind
// that already has a handler (every built-in kind, see package wire) gives
// an error wrapping [ErrKindTaken].
func (n *Node) HandleKind(kind wire.Kind, h KindHandler) error {
	if h == nil {
		return fmt.Errorf("actors: HandleKind(%s): nil handler", kind)
	}
	n.kindsMu.Lock()
	defer n.kindsMu.Unlock()
	old := *n.frameKinds.Load()
	if _, ok := old[kind]; ok {
		return fmt.Errorf("%w: %s", ErrKindTaken, kind)
	}
	next := make(kindTable, len(old)+1)
	for k, e := range old {
		next[k] = e
	}
	next[kind] = kindEntry{handle: func(_ *link, f wire.Frame) error { return h(f) }}
	n.frameKinds.Store(&next)
	return nil
}

// SendKind sends one frame of kind, with body, to context dst (src and
// auth are this context): the sending half of the [Node.HandleKind] seam.
// The frame is routed like any other (in chunks when it is larger than a
// chunk; the destination reassembles it before its handler runs). Built-in
// kinds cannot be sent this way (an error wrapping [ErrKindTaken]); a dead
// or unreachable destination is a *DeadError. SendKind queues the frame
// the way the node's own replies are queued from reader goroutines, so it
// may be called from a KindHandler; it is safe for concurrent use.
func (n *Node) SendKind(kind wire.Kind, dst uint32, body []byte) error {
	if _, builtin := n.builtin[kind]; builtin {
		return fmt.Errorf("%w: %s is a built-in kind", ErrKindTaken, kind)
	}
	if dst == n.id {
		return fmt.Errorf("actors: SendKind(%s) to this context %d", kind, dst)
	}
	return n.sendFrame(wire.FrameSpec{Kind: kind, Dst: dst, Src: n.id, Auth: n.id}, nil, body)
}

// kind returns how frames of kind k are handled.
func (n *Node) kind(k wire.Kind) (kindEntry, bool) {
	e, ok := (*n.frameKinds.Load())[k]
	return e, ok
}

// bounceUser names the sender of an undeliverable USER frame.
func bounceUser(f wire.Frame, d *wire.DeadReply) bool {
	e, err := wire.ParseEnvelope(f.Body())
	if err != nil {
		return false
	}
	d.Target, d.HasSender, d.SenderCtx, d.SenderID = e.Target, e.HasSender, e.SenderCtx, e.SenderID
	return true
}

// bounceRequest names the reply process of an undeliverable node-level
// request (SPAWN_ACTOR, ALLOCATE_ID: both carry ReplyID first).
func bounceRequest(f wire.Frame, d *wire.DeadReply) bool {
	var req spawnRequest
	if wire.Unmarshal(f.Body(), &req) != nil {
		return false
	}
	d.HasSender, d.SenderCtx, d.SenderID = true, f.Header().Src(), req.ReplyID
	return true
}
