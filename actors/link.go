package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	lnk "github.com/spindle-go/spindle/actors/internal/link"
	"github.com/spindle-go/spindle/wire"
)

// errLinkClosed is the reason of a link closed by its own side.
var errLinkClosed = lnk.ErrClosed

// sendMode says how send may treat its caller (see lnk.Mode).
type sendMode = lnk.Mode

const (
	// queued only appends to the queue. Every send made on a link's reader
	// goroutine must be queued: a reader that writes can deadlock with a
	// peer whose reader is writing too.
	queued = lnk.Queued
	// inline may write the frame from the caller's goroutine when the link
	// is idle (user and actor sends).
	inline = lnk.Inline
	// control jumps ahead of queued bulk frames, never waits and is never
	// chunked (heartbeats, route updates, dead replies, SHUTDOWN).
	control = lnk.Control
	// noWait is queued that fails with ErrCongested instead of waiting: a
	// reader forwarding to another link must never wait on its queue.
	noWait = lnk.NoWait
	// bounded is inline for sends made by actors: it waits for room at most
	// lnk.BoundedWait, then fails with ErrCongested (and at once while the
	// link stays congested), so a stuck context cannot hold an actor that
	// answers it, and with it every other context that talks to that actor.
	bounded = lnk.Bounded
)

// ErrCongested is the reason of a frame this context could not pass on
// because the link toward its destination is over its queue limit (that
// context is slow or stuck). The frame is failed back to its sender with an
// IS_DEAD reply (code wire.DeadRejected, cause wire.CauseCongested), so
// that no link's reader ever waits on another link's queue; the sender's
// error matches ErrRejected and ErrCongested.
var ErrCongested = lnk.ErrCongested

// WriteStallError is the reason a link was declared dead because its
// writer made no progress for the heartbeat timeout while it had bytes to
// write: the peer stopped reading, though it may still send (heartbeats
// included). Its fields: Peer, the peer's name; Stall, how long the write
// had made no progress; Timeout, the heartbeat timeout. It matches
// ErrWriteStalled.
type WriteStallError = lnk.WriteStallError

// modeOf returns how a frame of kind k built by this node is sent: the
// control kinds (IS_DEAD, route updates, SHUTDOWN) go on the control queue,
// never behind bulk and never chunked; others are queued.
func modeOf(k wire.Kind) sendMode {
	switch k {
	case wire.KindDead, wire.KindAddRoute, wire.KindDelRoute, wire.KindShutdown:
		return control
	}
	return queued
}

// congested is the *DeadError of a frame for context dst that the link out
// toward it had no room for.
func (n *Node) congested(dst uint32, out *link) *DeadError {
	return newDeadError(dst, nil, wire.DeadRejected,
		fmt.Sprintf("congested: the link from context %d toward context %d (%s) is over its queue limit",
			n.id, out.peer, out.peerName), ErrCongested)
}

// A link is the node's side of one link to a neighbouring context: the
// link layer (queues, writer, reader loop, heartbeat; package
// actors/internal/link) plus the per-link state of the node, which only
// the link's reader goroutine touches. It is the link layer's Handler.
type link struct {
	*lnk.Link
	node     *Node
	peer     uint32 // context ID on the other side
	peerName string
	isParent bool // the other side is this context's parent

	// Owned by the reader goroutine: PIDs of local targets and of senders
	// (for one sender context at a time), reused across messages.
	targets       map[string]*actor.PID
	lastTarget    *actor.PID // the last target looked up, ahead of the map
	senders       map[string]*actor.PID
	lastSenderCtx uint32
	headers       headerCache             // the last kv block turned into a header map
	types         wire.TypeCache          // payload types by wire name
	chunks        *wire.Assembler         // chunked frames addressed to this context
	relay         map[uint32]*relayStream // chunk streams forwarded from this link, by source
	hop           hopSlot                 // zero-hop delivery (zerohop.go)
	heldFor       *actor.PID              // the target whose run waits on the reader (zerohop.go)
	okSrc         uint32                  // the last source that passed the reverse-path check
	okWrites      uint64                  // n.mu's write count when it passed; 0: none (routehint.go)
}

// relayStream is a chunk stream this context forwards: the head of the
// frame it carries (to fail it back to its sender with the right reply),
// and whether a chunk of it could not be passed on.
type relayStream struct {
	head    []byte
	dropped bool
}

// Bounds of the relay table: the bytes of a frame kept to bounce it (its
// header and envelope fit), and the streams tracked per link (a full table
// is dropped, as the PID caches are).
const (
	relayHeadMax = 4 << 10
	relayMax     = 256
)

// relaySkip reports whether f is a chunk of a stream that this context
// already failed back to its sender (it is dropped too).
func (l *link) relaySkip(f wire.Frame) bool {
	h := f.Header()
	if h.Kind() != wire.KindChunk || h.Flags()&wire.FlagStart != 0 {
		return false
	}
	st := l.relay[h.Src()]
	if st == nil || !st.dropped {
		return false
	}
	if h.Flags()&wire.FlagEnd != 0 {
		delete(l.relay, h.Src())
	}
	return true
}

// relayed records a forwarded chunk (failed says it could not be passed
// on) and returns the frame to fail back to its sender: for a chunk, the
// head of the frame its stream carries, so that the dead reply names the
// message's sender and a waiting request fails at once.
func (l *link) relayed(f wire.Frame, failed bool) wire.Frame {
	h := f.Header()
	if h.Kind() != wire.KindChunk {
		return f
	}
	src, flags := h.Src(), h.Flags()
	if flags&wire.FlagStart != 0 {
		if l.relay == nil || len(l.relay) >= relayMax {
			l.relay = make(map[uint32]*relayStream)
		}
		l.relay[src] = &relayStream{head: frameHead(f.Body())}
	}
	st := l.relay[src]
	if flags&wire.FlagEnd != 0 || (st == nil && failed) {
		delete(l.relay, src)
	} else if failed {
		st.dropped = true
	}
	if failed && st != nil && st.head != nil {
		return wire.Frame{Raw: st.head}
	}
	return f
}

// frameHead returns a frame with the header of the frame whose first
// bytes are b and the first relayHeadMax bytes of its body, or nil when b
// does not start with a frame header.
func frameHead(b []byte) []byte {
	oh := wire.Header(b)
	if len(b) < wire.HeaderSize || oh.Check(0) != nil || wire.HeaderSize+oh.KVLen() > len(b) {
		return nil
	}
	body := b[wire.HeaderSize+oh.KVLen():]
	body = body[:min(len(body), relayHeadMax, oh.BodyLen())]
	return wire.AppendFrame(nil, wire.FrameSpec{Kind: oh.Kind(), Flags: oh.Flags(), Dst: oh.Dst(), Src: oh.Src(),
		Auth: oh.Auth()}, nil, body)
}

var _ lnk.Handler = (*link)(nil)

// linkTransport is the link layer's view of t.
func linkTransport(t Transport) lnk.Transport { return lnk.Transport{R: t.R, W: t.W, C: t.C} }

// newLink returns the node's link to peer (named name) over t, reading
// through in; hello is the peer's. It starts nothing.
func newLink(n *Node, t Transport, in *lnk.Input, peer uint32, name string, hello wire.Hello, hb lnk.Heartbeat) *link {
	l := &link{node: n, peer: peer, peerName: name, chunks: n.newAssembler()}
	in.Reader().SetPlacer(l.chunks) // chunk bodies go straight into the frame they carry
	l.Link = lnk.New(linkTransport(t), in, lnk.Config{
		Local:        n.id,
		Peer:         peer,
		Name:         name,
		PeerMaxFrame: int(hello.MaxFrame),
		PeerFeatures: hello.Features,
		Heartbeat:    hb,
		Logger:       n.log,
		Reason:       t.Reason,
	}, l)
	return l
}

// HandleFrame implements lnk.Handler.
func (l *link) HandleFrame(_ *lnk.Link, f wire.Frame) error { return l.node.handleFrame(l, f) }

// LinkDown implements lnk.Handler.
func (l *link) LinkDown(_ *lnk.Link, reason error) { l.node.linkDown(l, reason) }

func (l *link) send(frame []byte, mode sendMode) error { return l.Send(frame, mode) }

func (l *link) sendFDs(frame []byte, fds []int, mode sendMode) error {
	return l.SendFDs(frame, fds, mode)
}

func (l *link) sendFDsContext(cx context.Context, frame []byte, fds []int, mode sendMode) error {
	return l.SendContext(cx, frame, fds, mode)
}

func (l *link) takeFDs() []int       { return l.TakeFDs() }
func (l *link) maxFrame() int        { return l.MaxFrame() }
func (l *link) shutdown(cause error) { l.Shutdown(cause) }
func (l *link) close()               { l.Close() }
func (l *link) ping(k wire.Kind)     { l.Ping(k) }

// fdRefused reports whether a sendFDs error refuses the frame's
// descriptors (the link cannot carry them, or the frame is too big to)
// rather than reporting a broken link.
func fdRefused(err error) bool {
	return errors.Is(err, ErrNoFDPassing) || errors.Is(err, wire.ErrFrameTooLarge)
}

func closeFDs(fds []int) { lnk.CloseFDs(fds) }

// sendFrameContext is sendFrame (router.go) for a caller with a ctx: it
// stops waiting for room in the link's queue when ctx is done, and then
// returns an error wrapping ctx's (the frame was not sent).
func (n *Node) sendFrameContext(ctx context.Context, s wire.FrameSpec, kv, body []byte) error {
	l, err := n.linkTo(s.Dst)
	if err != nil {
		return err
	}
	buf := getBuf()
	*buf = wire.AppendFrame((*buf)[:0], s, kv, body)
	err = l.sendFDsContext(ctx, *buf, nil, modeOf(s.Kind))
	putBuf(buf)
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return fmt.Errorf("actors: %s to context %d not queued (the link is over its queue limit): %w", s.Kind, s.Dst, err)
	}
	return n.sendErr(s.Dst, nil, err)
}
