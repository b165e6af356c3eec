package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/wire"
)

// resolve is the protoactor address resolver: one long-lived remoteProcess
// per context address. protoactor caches it in every PID forever, so the
// process checks the context's liveness on every call.
func (n *Node) resolve(pid *actor.PID) (actor.Process, bool) {
	id, ok := parseAddress(pid.Address)
	if !ok || id == n.id {
		return nil, false
	}
	if p, ok := n.remotes.Load(id); ok {
		return p.(*remoteProcess), true
	}
	p, _ := n.remotes.LoadOrStore(id, &remoteProcess{n: n, ctx: id})
	return p.(*remoteProcess), true
}

// pidOf returns a PID in context id.
func (n *Node) pidOf(id uint32, actorID string) *actor.PID {
	if id == n.id {
		return actor.NewPID(n.address, actorID)
	}
	if a, ok := n.addrs.Load(id); ok {
		return actor.NewPID(a.(string), actorID)
	}
	a, _ := n.addrs.LoadOrStore(id, Address(id))
	return actor.NewPID(a.(string), actorID)
}

// remoteProcess stands for every actor of one other context.
type remoteProcess struct {
	n   *Node
	ctx uint32
}

var _ actor.Process = (*remoteProcess)(nil)

func (p *remoteProcess) SendUserMessage(pid *actor.PID, m any) {
	if err := p.n.sendUser(p.ctx, pid, m, bounded); err != nil {
		p.n.undeliverable(pid, m, err)
	}
}

func (p *remoteProcess) SendSystemMessage(pid *actor.PID, m any) {
	n := p.n
	switch m := m.(type) {
	case *actor.Watch:
		if err := n.track.addWatch(p.ctx, pid.Id, m.Watcher); err != nil {
			n.deliverTerminated(m.Watcher, pid, actor.TerminatedReason_AddressTerminated)
			return
		}
		if err := n.sendSystem(p.ctx, sysMsg{Op: opWatch, Target: pid.Id, PeerCtx: n.ctxOf(m.Watcher), PeerID: m.Watcher.Id}); err != nil {
			n.track.dropWatch(p.ctx, pid.Id, m.Watcher)
			n.deliverTerminated(m.Watcher, pid, actor.TerminatedReason_AddressTerminated)
		}
	case *actor.Unwatch:
		n.track.dropWatch(p.ctx, pid.Id, m.Watcher)
		_ = n.sendSystem(p.ctx, sysMsg{Op: opUnwatch, Target: pid.Id, PeerCtx: n.ctxOf(m.Watcher), PeerID: m.Watcher.Id})
	case *actor.Stop:
		_ = n.sendSystem(p.ctx, sysMsg{Op: opStop, Target: pid.Id})
	case *actor.Terminated:
		// A local actor that a remote watcher watched, or whose remote
		// parent this is, has stopped.
		if n.parentOf(m.Who.Id, p.ctx) {
			n.orphaned(m.Who.Id)
		}
		_ = n.sendSystem(p.ctx, sysMsg{Op: opTerminated, Target: pid.Id, PeerCtx: n.ctxOf(m.Who), PeerID: m.Who.Id, Why: int32(m.Why)})
	case *actor.Failure:
		// A local child of a remote parent failed (we run inside its recover).
		n.sendFailure(p.ctx, pid, m)
	case *actor.Restart:
		_ = n.sendSystem(p.ctx, sysMsg{Op: opRestart, Target: pid.Id})
	case *actor.ResumeMailbox:
		_ = n.sendSystem(p.ctx, sysMsg{Op: opResume, Target: pid.Id})
	default:
		n.log.Debug("system message not carried across contexts", "type", typeName(m), "pid", pid)
	}
}

func (p *remoteProcess) Stop(pid *actor.PID) { p.SendSystemMessage(pid, &actor.Stop{}) }

// ctxOf returns the context of a PID; PIDs without a context address are
// taken as local.
func (n *Node) ctxOf(pid *actor.PID) uint32 {
	if pid.Address == n.address {
		return n.id
	}
	if id, ok := parseAddress(pid.Address); ok {
		return id
	}
	return n.id
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

var gapsPool = sync.Pool{New: func() any { return new(wire.Gaps) }}

func getGaps() *wire.Gaps { return gapsPool.Get().(*wire.Gaps) }

func putGaps(g *wire.Gaps) {
	g.Reset() // forget the message's slices
	gapsPool.Put(g)
}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// maxPooledBuf is the largest send buffer kept for reuse: enough for the
// frame of a 1 MiB payload.
const maxPooledBuf = 2 << 20

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return // let bigger buffers go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// sendUser encodes one user message for an actor in context ctx and queues
// it on the link toward it (mode inline lets an idle link write it at once;
// reader goroutines pass queued). This is the hot path: one pooled buffer,
// the envelope and the msgpack payload appended straight into it. Failures
// to reach the context are *DeadError.
func (n *Node) sendUser(ctx uint32, pid *actor.PID, m any, mode sendMode) error {
	return n.sendUserContext(context.Background(), ctx, pid, m, mode)
}

// sendUserContext is sendUser that stops waiting for room in the link's
// queue when cx is done, and then returns an error wrapping cx's.
func (n *Node) sendUserContext(cx context.Context, ctx uint32, pid *actor.PID, m any, mode sendMode) error {
	return n.sendUserTraced(cx, ctx, pid, m, mode, nil)
}

// sendUserTraced is sendUserContext that adds tr's propagated headers
// (nil: none) to the message's.
func (n *Node) sendUserTraced(cx context.Context, ctx uint32, pid *actor.PID, m any, mode sendMode, tr *injected) error {
	hdr, msg, sender := actor.UnwrapEnvelope(m)
	if _, ok := msg.(*actor.DeadLetterResponse); ok {
		// protoactor answers a message to a missing actor with this; across
		// contexts it becomes an IS_DEAD reply.
		n.replyDead(ctx, wire.DeadReply{TargetCtx: n.id, HasSender: true, SenderCtx: ctx, SenderID: pid.Id,
			Code: wire.DeadNoActor, Reason: "no such actor"})
		return nil
	}
	l, err := n.linkTo(ctx)
	if err != nil {
		return err
	}
	enc, err := n.reg.EncodingOf(msg)
	if err != nil {
		return err
	}
	buf := getBuf()
	defer putBuf(buf)
	b, start := wire.BeginFrame((*buf)[:0], wire.FrameSpec{Kind: wire.KindUser, Dst: ctx, Src: n.id, Auth: n.id})
	kvLen := 0
	if hdr != nil && hdr.Length() > 0 {
		before := len(b)
		kv := hdr.ToMap()
		if tr != nil {
			tr.mergeInto(kv)
		}
		if b, err = wire.AppendKV(b, kv); err != nil {
			return err
		}
		kvLen = len(b) - before
	} else if tr != nil {
		b = append(b, tr.kv...)
		kvLen = len(tr.kv)
	}
	e := wire.Envelope{Target: pid.Id, Type: enc.Name}
	if sender != nil {
		e.HasSender, e.SenderCtx, e.SenderID = true, n.ctxOf(sender), sender.Id
	}
	envAt := len(b)
	b = wire.AppendEnvelopeHead(b, e)
	var gaps *wire.Gaps // large []byte values written from the message itself
	if enc.MayGap() && l.Gathers() {
		gaps = getGaps()
		defer putGaps(gaps)
	}
	var vals []any
	if out, ok := enc.AppendPlannedGaps(b, msg, gaps); ok {
		b = out // the type's struct plan: no reflection, no descriptors
	} else if b, vals, err = n.reg.AppendPayloadGaps(b, msg, gaps); err != nil {
		return err
	}
	var fds []int
	if vals != nil {
		b = gaps.Fill(b) // a frame with descriptors is written in one piece
		if b, fds, err = n.attachFDs(l, b, start, envAt, vals); err != nil {
			return &FDError{Context: ctx, PID: pid, Err: err}
		}
	}
	if err = wire.FinishFrameGaps(b, start, kvLen, gaps); err != nil {
		closeFDs(fds)
		return err
	}
	if len(b)-start+gaps.Len() > l.maxFrame() {
		closeFDs(fds)
		return &DeadError{Context: ctx, PID: pid, Code: wire.DeadRejected,
			Reason: "message larger than the link's frame limit"}
	}
	*buf = b
	if gaps.Len() > 0 {
		err = l.SendPieces(cx, gaps.Pieces(b, start), mode)
	} else {
		err = l.sendFDsContext(cx, b[start:], fds, mode) // closes fds, sent or not
	}
	if err == nil {
		return nil
	}
	if fdRefused(err) {
		return &FDError{Context: ctx, PID: pid, Err: err}
	}
	if ce := cx.Err(); ce != nil && errors.Is(err, ce) {
		return fmt.Errorf("actors: message to %s not queued (the link is over its queue limit): %w", FormatPID(pid), err)
	}
	return n.sendErr(ctx, pid, err)
}

// attachFDs turns the frame begun at b[start:], whose envelope starts at
// b[envAt], into one that carries the descriptors of vals: it takes a
// duplicate of each (closed once sent) and records their count. The link
// must carry descriptors.
func (n *Node) attachFDs(l *link, b []byte, start, envAt int, vals []any) ([]byte, []int, error) {
	if !l.FDPassing() {
		return b, nil, fmt.Errorf("%w (the link toward it goes to %q)", ErrNoFDPassing, l.peerName)
	}
	if len(vals) > wire.MaxFDs {
		return b, nil, wire.ErrTooManyFDs
	}
	fds, err := dupFDs(vals)
	if err != nil {
		return b, nil, err
	}
	if b, err = wire.SetEnvelopeFDs(b, envAt, len(fds)); err != nil {
		closeFDs(fds)
		return b, nil, err
	}
	h := wire.Header(b[start:])
	h.SetFlags(h.Flags() | wire.FlagFDs)
	return b, fds, nil
}

// undeliverable handles a message that could not be sent: a waiting request
// fails with err, anything else is published as an Undeliverable event.
func (n *Node) undeliverable(pid *actor.PID, m any, err error) {
	_, msg, sender := actor.UnwrapEnvelope(m)
	if sender != nil && n.ctxOf(sender) == n.id {
		if r, ok := n.track.reply(sender.Id); ok {
			r.fail(err)
			return
		}
	}
	n.sys.EventStream.Publish(&Undeliverable{PID: pid, Message: msg, Sender: sender, Err: err})
	n.log.Debug("undeliverable message", "pid", pid, "type", typeName(msg), "err", err)
}

// Undeliverable is published on the event stream for a message that could
// not be delivered and had no waiting request to fail: the IS_DEAD reason of
// a dead-letter.
type Undeliverable struct {
	PID     *actor.PID
	Message any
	Sender  *actor.PID
	Err     error
}

// Send sends msg to pid, like System().Root.Send, but reports at once when
// the message cannot leave this context (unregistered type, dead context).
// While the link toward pid's context is over its queue limit it waits
// (backpressure), until the link drains or is declared dead; SendContext
// bounds that wait (and carries ctx's trace context, see Propagator).
func (n *Node) Send(pid *actor.PID, msg any) error {
	id, ok := ContextOf(pid)
	if !ok || id == n.id {
		n.sys.Root.Send(pid, msg)
		return nil
	}
	return n.sendUserContext(context.Background(), id, pid, msg, inline)
}

// SendContext is Send that stops waiting for room in the link's queue when
// ctx is done, and then returns an error wrapping ctx's error (the message
// was not sent). It waits for nothing else: a link that is not over its
// limit takes the message at once. With a Propagator (Config.Propagator)
// the headers it sets for ctx are added to msg's (the caller's own
// headers of the same keys win).
func (n *Node) SendContext(ctx context.Context, pid *actor.PID, msg any) error {
	pr := n.prop.Load()
	id, ok := ContextOf(pid)
	if !ok || id == n.id {
		if pr != nil {
			msg = pr.withPropagated(ctx, msg)
		}
		n.sys.Root.Send(pid, msg)
		return nil
	}
	var tr *injected
	if pr != nil {
		tr = pr.inject(ctx)
	}
	return n.sendUserTraced(ctx, id, pid, msg, inline, tr)
}
