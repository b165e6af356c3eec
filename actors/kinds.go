package actors

import (
	"context"
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

// kindIndex is a kindTable with its kinds below kindLow in an array, which
// the reader goroutines index for every frame (a map with 16-bit keys has
// no fast path: its lookup cost 4% of a receiving context's CPU).
type kindIndex struct {
	all kindTable
	low [kindLow]*kindEntry
}

// kindLow bounds the kinds of a kindIndex's array.
const kindLow = 256

func newKindIndex(t kindTable) *kindIndex {
	x := &kindIndex{all: t}
	for k, e := range t {
		if k < kindLow {
			x.low[k] = &e
		}
	}
	return x
}

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
		wire.KindSystem:     {handle: func(_ *link, f wire.Frame) error { return n.onSystem(f) }, bounce: bounceWatch},
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
	return n.addKind(kind, kindEntry{handle: func(_ *link, f wire.Frame) error { return h(f) }})
}

// HandleKindReplies is [Node.HandleKind] for a kind whose frames expect an
// answer, such as a call: replyTo returns the reply ID a frame's body
// names (ok false: none; it must not keep body, and must not panic on
// hostile bytes). When a frame of the kind cannot be delivered (no route,
// a congested hop, refused between isolated links, its destination died on
// the way), the context that gives up on it answers with an IS_DEAD dead
// reply naming (the frame's source, the reply ID) as the sender; at the
// source it is published on the event stream as an [*Undeliverable] whose
// Sender is that ID in the source context and whose Err is the
// *DeadError, once the source has checked that the dead reply came from a
// context on the path to the frame's destination. A context bounces with
// the function it registered itself: contexts that route frames of the
// kind should register it the same way (the same Config.Setup).
func (n *Node) HandleKindReplies(kind wire.Kind, h KindHandler, replyTo func(body []byte) (id string, ok bool)) error {
	if h == nil || replyTo == nil {
		return fmt.Errorf("actors: HandleKindReplies(%s): nil handler", kind)
	}
	return n.addKind(kind, kindEntry{
		handle: func(_ *link, f wire.Frame) error { return h(f) },
		bounce: bounceReplyTo(replyTo),
	})
}

// RunHandler is a KindHandler that may hand work back to the link it read
// the frame from: run, when not nil, runs right after the handler returns,
// on the link's reader goroutine (no goroutine hand-off: the zero-hop
// delivery of actor messages, docs/links.md), under the link's watchdog:
// a run that blocks or lasts longer than the watchdog's budget keeps its
// goroutine, and a new one takes over reading the link, so heartbeats,
// other frames and IS_DEAD never wait for it. When more of the link's
// stream is already read (the link is streaming), run goes to a new
// goroutine instead, so that the work overlaps with reading. The handler
// itself must not block, as any KindHandler; run may block, and may send
// with SendKindContext.
type RunHandler func(f wire.Frame) (run func(), err error)

// HandleKindRun registers h for frames of kind, as HandleKindReplies does
// (replyTo may be nil: a dead reply then names no sender, as for
// HandleKind), for a kind whose work may block and whose frames are often
// answered at once, such as a call: see RunHandler.
func (n *Node) HandleKindRun(kind wire.Kind, h RunHandler, replyTo func(body []byte) (id string, ok bool)) error {
	if h == nil {
		return fmt.Errorf("actors: HandleKindRun(%s): nil handler", kind)
	}
	e := kindEntry{handle: func(l *link, f wire.Frame) error {
		run, err := h(f)
		switch {
		case run == nil:
		case l.Streaming():
			go run()
		default:
			l.RunAfter(run)
		}
		return err
	}}
	if replyTo != nil {
		e.bounce = bounceReplyTo(replyTo)
	}
	return n.addKind(kind, e)
}

// bounceReplyTo names (the frame's source, the reply ID replyTo finds in
// its body) as the sender of an undeliverable frame's dead reply.
func bounceReplyTo(replyTo func([]byte) (string, bool)) func(wire.Frame, *wire.DeadReply) bool {
	return func(f wire.Frame, d *wire.DeadReply) bool {
		if id, ok := replyTo(f.Body()); ok {
			d.HasSender, d.SenderCtx, d.SenderID = true, f.Header().Src(), id
		}
		return true // without an ID: a dead reply naming no sender, as for HandleKind
	}
}

// addKind adds the entry of a kind nobody handles yet.
func (n *Node) addKind(kind wire.Kind, e kindEntry) error {
	n.kindsMu.Lock()
	defer n.kindsMu.Unlock()
	old := n.frameKinds.Load().all
	if _, ok := old[kind]; ok {
		return fmt.Errorf("%w: %s", ErrKindTaken, kind)
	}
	next := make(kindTable, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[kind] = e
	n.frameKinds.Store(newKindIndex(next))
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

// SendKindContext is [Node.SendKind] for a caller that is not a
// KindHandler, such as a goroutine waiting for an answer: when the link
// toward dst is idle it may write the frame from the calling goroutine
// (no hand-off to the link's writer, as for Request), and when the link's
// queue is full it waits for room until ctx is done, then returns an error
// wrapping ctx's (the frame was not sent). Never call it from a
// KindHandler (a reader that writes can deadlock with a peer whose reader
// writes too): use SendKind there. A RunHandler's run may call it (the
// link's watchdog gives the link a new reader if the write waits). With a
// Propagator (Config.Propagator) the frame's key/value block carries the
// headers it sets for ctx (the receiver reads them with FrameHeaders).
func (n *Node) SendKindContext(ctx context.Context, kind wire.Kind, dst uint32, body []byte) error {
	if _, builtin := n.builtin[kind]; builtin {
		return fmt.Errorf("%w: %s is a built-in kind", ErrKindTaken, kind)
	}
	if dst == n.id {
		return fmt.Errorf("actors: SendKindContext(%s) to this context %d", kind, dst)
	}
	s := wire.FrameSpec{Kind: kind, Dst: dst, Src: n.id, Auth: n.id}
	l, err := n.linkTo(dst)
	if err != nil {
		return err
	}
	var kv []byte
	if pr := n.prop.Load(); pr != nil {
		kv = pr.kvBlock(ctx)
	}
	buf := getBuf()
	*buf = wire.AppendFrame((*buf)[:0], s, kv, body)
	err = l.sendFDsContext(ctx, *buf, nil, inline)
	putBuf(buf)
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return fmt.Errorf("actors: %s to context %d not queued (the link is over its queue limit): %w", kind, dst, err)
	}
	return n.sendErr(dst, nil, err)
}

// kind returns how frames of kind k are handled.
func (n *Node) kind(k wire.Kind) (kindEntry, bool) {
	x := n.frameKinds.Load()
	if k < kindLow {
		if e := x.low[k]; e != nil {
			return *e, true
		}
		return kindEntry{}, false
	}
	e, ok := x.all[k]
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

// bounceWatch answers an undeliverable SYSTEM watch (only: the other
// operations are never answered) with a dead reply naming the watched actor
// and the watcher, from which the watcher's context learns that the
// context is gone (learnDeath: with scoped DEL_ROUTE it may not have been
// told) and tells the watcher Terminated.
func bounceWatch(f wire.Frame, d *wire.DeadReply) bool {
	var m sysMsg
	if wire.Unmarshal(f.Body(), &m) != nil || m.Op != opWatch {
		return false
	}
	d.Target, d.HasSender, d.SenderCtx, d.SenderID = m.Target, true, m.PeerCtx, m.PeerID
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
