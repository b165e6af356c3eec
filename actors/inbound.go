package actors

import (
	"fmt"
	"reflect"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/wire"
)

// onUser delivers a user message to a local actor. It runs on the link's
// reader goroutine and uses the link's PID caches, which only that
// goroutine touches.
func (n *Node) onUser(l *link, f wire.Frame) error {
	e, err := wire.ParseEnvelopeView(f.Body())
	if err != nil {
		return &ProtocolError{Err: err}
	}
	awaiting, refused := n.senderRefused(f, e)
	if refused {
		if e.FDs > 0 {
			closeFDs(l.takeFDs()) // the refused frame's descriptors
		}
		return nil // refused before any decoding
	}
	var msg any
	var inbox *fdInbox // the frame's descriptors, if it carries any
	recycle := false   // f is reassembled and nothing decoded from it refers to it
	if e.FDs > 0 {
		inbox = &fdInbox{fds: l.takeFDs()}
		msg, err = n.reg.DecodeNameFDs(e.Type, e.Payload, inbox)
		if left := inbox.left(); err == nil && left > 0 {
			err = fmt.Errorf("%w: %d of %d descriptors have no placeholder", wire.ErrBadFD, left, e.FDs)
		}
	} else if f.Owned { // reassembled: large []byte values alias the frame
		var keeps bool
		msg, keeps, err = n.reg.DecodeNameOwned(&l.types, e.Type, e.Payload)
		recycle = !keeps
	} else {
		msg, err = n.reg.DecodeNameCached(&l.types, e.Type, e.Payload)
	}
	if awaiting != nil && err == nil && inbox == nil {
		// The answer to a request of this context: straight to the
		// waiting requester, no actor or registry lookup in between, and
		// the requester runs next on this thread (docs/links.md, "A reply
		// that wakes no goroutine").
		if recycle {
			l.chunks.Recycle(f)
		}
		awaiting.SendUserMessage(nil, msg)
		if f.Owned { // it came in chunks: the reader keeps the read side
			l.YieldKeep()
		} else {
			l.YieldAfter()
		}
		return nil
	}
	m, err := n.userEnvelope(l, f, e, msg, err)
	if recycle {
		l.chunks.Recycle(f) // f and e are not read below
	}
	if inbox != nil {
		inbox.finish(m.target != nil) // closes whatever is not delivered
	}
	if m.target != nil {
		n.post(l, m.target, m.msg)
	}
	return err
}

// senderRefused checks the authority of a USER frame before its payload is
// decoded, and answers a refused one with a dead reply (rejected, policy):
//   - the envelope's sender context must be the frame's source, the one
//     context that passed the reverse-path check (a sender in another
//     context, a reply capability it was not given, would make the answer
//     land there);
//   - an answer to a request for an actor in another context must come
//     from that context (a context that learnt the reply's ID cannot answer
//     it).
//
// It returns the request the frame answers, if it answers one of this
// context's requests and is not refused.
func (n *Node) senderRefused(f wire.Frame, e wire.EnvelopeView) (*reply, bool) {
	src := f.Header().Src()
	if e.HasSender && e.SenderCtx != src {
		n.pol.refused(n.log, src, "refused message whose sender is in another context",
			"sender_ctx", e.SenderCtx, "target", string(e.Target))
		n.deadUser(src, e, wire.DeadRejected, fmt.Sprintf("sender context %d is not the frame's source %d", e.SenderCtx, src), ErrRefused)
		return nil, true
	}
	r, ok := n.track.replyFor(e.Target)
	if ok && r.ctx != n.id && r.ctx != src {
		n.pol.refused(n.log, src, "refused answer to a request for another context", "awaits", r.ctx)
		n.deadUser(src, e, wire.DeadRejected, fmt.Sprintf("context %d may not answer a request to context %d", src, r.ctx), ErrRefused)
		return nil, true
	}
	return r, false
}

// inboundUser is a decoded user message and its local target.
type inboundUser struct {
	target *actor.PID
	msg    any
}

// userEnvelope finds the target of a decoded user message (decodeErr is
// the decoding's outcome) and wraps it with its sender and headers. A nil
// target means the message is not delivered: it was answered with IS_DEAD,
// or err says why the link must close.
func (n *Node) userEnvelope(l *link, f wire.Frame, e wire.EnvelopeView, msg any, decodeErr error) (inboundUser, error) {
	h := f.Header()
	if decodeErr != nil {
		n.deadUser(h.Src(), e, wire.DeadRejected, decodeErr.Error(), decodeErr)
		return inboundUser{}, nil
	}
	target, ok := l.lastTarget, l.lastTarget != nil && l.lastTarget.Id == string(e.Target)
	if !ok {
		target, ok = l.targets[string(e.Target)]
	}
	if !ok {
		if _, found := n.sys.ProcessRegistry.GetLocal(string(e.Target)); !found {
			n.deadUser(h.Src(), e, wire.DeadNoActor, fmt.Sprintf("no actor %q in context %d", e.Target, n.id), nil)
			return inboundUser{}, nil
		}
		target = n.pidOf(n.id, string(e.Target))
		l.targets = cachePut(l.targets, target.Id, target)
	}
	l.lastTarget = target
	var m any = msg
	if e.HasSender || h.KVLen() > 0 {
		env := &actor.MessageEnvelope{Message: msg}
		if e.HasSender {
			env.Sender = l.senderPID(n, e.SenderCtx, e.SenderID)
		}
		if h.KVLen() > 0 {
			kv, err := l.headers.parse(f.KV())
			if err != nil {
				return inboundUser{}, &ProtocolError{Err: err}
			}
			env.Header = kv
		}
		m = env
	}
	return inboundUser{target, m}, nil
}

// deadUser answers an undeliverable user message with IS_DEAD; cause, when
// not nil, travels as its cause code.
func (n *Node) deadUser(src uint32, e wire.EnvelopeView, code wire.DeadCode, reason string, cause error) {
	n.replyDead(src, withCause(wire.DeadReply{Target: string(e.Target), TargetCtx: n.id, HasSender: e.HasSender,
		SenderCtx: e.SenderCtx, SenderID: string(e.SenderID), Code: code, Reason: reason}, cause))
}

// pidCacheMax bounds each of a link's PID caches; a full cache is dropped.
const pidCacheMax = 4096

func cachePut(m map[string]*actor.PID, k string, pid *actor.PID) map[string]*actor.PID {
	if m == nil || len(m) >= pidCacheMax {
		m = make(map[string]*actor.PID)
	}
	m[k] = pid
	return m
}

// senderPID returns the PID of a message's sender, reusing PIDs (and the
// Process protoactor caches in them) across messages.
func (l *link) senderPID(n *Node, ctx uint32, id []byte) *actor.PID {
	if ctx == l.lastSenderCtx {
		if pid, ok := l.senders[string(id)]; ok {
			return pid
		}
	} else {
		l.lastSenderCtx, l.senders = ctx, nil
	}
	pid := n.pidOf(ctx, string(id))
	l.senders = cachePut(l.senders, pid.Id, pid)
	return pid
}

// System message operations carried in KindSystem frames.
const (
	opWatch uint8 = iota + 1
	opUnwatch
	opStop
	opTerminated
	opFailure // a child actor failed; to its parent's context
	opRestart // supervisor directive; to the child's context
	opResume  // supervisor directive; to the child's context
)

// sysMsg is the body of a KindSystem frame.
type sysMsg struct {
	Op      uint8
	Target  string // actor ID in the destination context
	PeerCtx uint32 // watcher (watch, unwatch) or the terminated actor (terminated)
	PeerID  string
	Why     int32
	// Failure only: the panic value, stack and message type.
	Reason  string `msgpack:",omitempty"`
	Stack   string `msgpack:",omitempty"`
	Message string `msgpack:",omitempty"`
}

func (n *Node) sendSystem(ctx uint32, m sysMsg) error {
	body, err := wire.Marshal(&m)
	if err != nil {
		return err
	}
	return n.sendFrame(wire.FrameSpec{Kind: wire.KindSystem, Dst: ctx, Src: n.id, Auth: n.id}, nil, body)
}

// onSystem carries out a SYSTEM operation on a local actor, after checking
// the sender's authority for it (docs/security.md):
//   - watch, unwatch, terminated and failure must name the frame's source
//     as the watcher's, the terminated or the failed actor's context;
//   - watch is bounded per watcher context (heldWatches);
//   - stop only from an ancestor or the actor's remote parent's context;
//   - restart and resume only from the actor's remote parent's context.
//
// A refused operation is answered with a dead reply (rejected) and logged
// once per source and kind of refusal.
func (n *Node) onSystem(f wire.Frame) error {
	var m sysMsg
	if err := wire.Unmarshal(f.Body(), &m); err != nil {
		return &ProtocolError{Err: err}
	}
	h := f.Header()
	src := h.Src()
	// The watcher of a watch and the actor of a Terminated live in the
	// frame's source context, which passed the reverse-path check; a body
	// that names another context is forged.
	if (m.Op == opWatch || m.Op == opUnwatch || m.Op == opTerminated || m.Op == opFailure) && m.PeerCtx != src {
		n.pol.refused(n.log, src, "dropped system message naming another context", "op", m.Op, "peer_ctx", m.PeerCtx)
		return nil
	}
	target := n.pidOf(n.id, m.Target)
	proc, found := n.sys.ProcessRegistry.GetLocal(m.Target)
	switch m.Op {
	case opWatch:
		n.onWatch(src, &m, found)
	case opUnwatch:
		n.track.held.drop(src, m.Target, m.PeerID)
	case opStop:
		if !n.mayDirect(src, h.Auth(), m.Target) {
			n.refuseSystem(src, &m, "stop")
			return nil
		}
		if found {
			proc.Stop(target)
		}
	case opTerminated:
		n.onTerminated(src, &m, target)
	case opFailure:
		n.onChildFailure(src, &m)
	case opRestart, opResume:
		// Directives come from the child's parent, and from nobody else.
		if !found || src != h.Auth() || !n.parentOf(m.Target, src) {
			n.refuseSystem(src, &m, "supervisor directive")
			return nil
		}
		if m.Op == opRestart {
			proc.SendSystemMessage(target, &actor.Restart{})
		} else {
			proc.SendSystemMessage(target, &actor.ResumeMailbox{})
		}
	default:
		return &ProtocolError{Err: fmt.Errorf("unknown system operation %d", m.Op)}
	}
	return nil
}

// refuseSystem answers a SYSTEM operation that src has no authority for.
func (n *Node) refuseSystem(src uint32, m *sysMsg, what string) {
	n.pol.refused(n.log, src, "refused system "+what+" from a context without authority over the actor",
		"op", m.Op, "target", m.Target)
	n.replyDead(src, withCause(wire.DeadReply{Target: m.Target, TargetCtx: n.id, Code: wire.DeadRejected,
		Reason: fmt.Sprintf("system %s refused by policy: context %d is neither an ancestor of context %d nor the actor's parent",
			what, src, n.id)}, ErrRefused))
}

// onWatch registers a watch by an actor of context src on a local actor,
// within src's budget of held watches.
func (n *Node) onWatch(src uint32, m *sysMsg, found bool) {
	if !found {
		_ = n.sendSystem(src, sysMsg{Op: opTerminated, Target: m.PeerID, PeerCtx: n.id, PeerID: m.Target,
			Why: int32(actor.TerminatedReason_NotFound)})
		return
	}
	via := n.childLinkOf(src)
	if err := n.track.held.add(src, via, m.Target, m.PeerID); err != nil {
		n.pol.refused(n.log, src, "refused remote watch", "target", trimID(m.Target), "err", err)
		if via != noLink {
			n.sys.EventStream.Publish(&QuotaExceeded{Link: via, Name: n.contextName(via), Kind: wire.KindSystem, Err: err})
		}
		n.replyDead(src, withCause(wire.DeadReply{Target: trimID(m.Target), TargetCtx: n.id, HasSender: true,
			SenderCtx: src, SenderID: trimID(m.PeerID), Code: wire.DeadRejected, Reason: err.Error()}, err))
		return
	}
}

// trimID cuts an actor ID to MaxWatchIDLen bytes, for refusals of IDs that
// are longer.
func trimID(id string) string {
	if len(id) > MaxWatchIDLen {
		return id[:MaxWatchIDLen]
	}
	return id
}

// onTerminated hands a remote actor's termination to the local actor that
// watches it (or, for a remote child, to its parent). A termination that
// nobody here waits for is dropped: a context cannot make up Terminated
// messages for local actors that never watched its actors.
func (n *Node) onTerminated(src uint32, m *sysMsg, target *actor.PID) {
	if n.kidGone(src, m.PeerID, actor.TerminatedReason(m.Why)) {
		return // a remote child told its parent: a system Terminated
	}
	if !n.track.dropWatch(m.PeerCtx, m.PeerID, target) {
		n.pol.refused(n.log, src, "dropped Terminated that no local watcher waits for", "target", m.Target)
		return
	}
	n.deliverTerminated(target, n.pidOf(m.PeerCtx, m.PeerID), actor.TerminatedReason(m.Why))
}

// deliverTerminated posts Terminated to a local watcher as a user message,
// so that it is processed after every message already queued from the dead
// actor's context (protoactor would let a system message jump the queue).
func (n *Node) deliverTerminated(watcher, who *actor.PID, why actor.TerminatedReason) {
	proc, ok := n.sys.ProcessRegistry.GetLocal(watcher.Id)
	if !ok || n.ctxOf(watcher) != n.id {
		return
	}
	proc.SendUserMessage(watcher, &actor.Terminated{Who: who, Why: why})
}

// onDead handles an IS_DEAD reply addressed to this context.
func (n *Node) onDead(f wire.Frame) error {
	d, err := wire.ParseDeadReply(f.Body())
	if err != nil {
		return &ProtocolError{Err: err}
	}
	n.deliverDead(d, f.Header().Src())
	return nil
}

// deliverDead fails the request waiting for the dead message, or publishes
// the dead letter. A request fails only on a dead reply from a context on
// the path to the context it waits for (see onPathTo), and a dead letter is
// published only from a context on the path to its target, so a context
// cannot fail requests or report losses it has nothing to do with.
func (n *Node) deliverDead(d wire.DeadReply, from uint32) {
	if !d.HasSender && d.Refused != 0 && from == d.TargetCtx {
		n.senderOfRefused(&d)
	}
	n.learnDeath(d, from) // scoped DEL_ROUTE (router.go)
	var target *actor.PID
	if d.Target != "" {
		target = n.pidOf(d.TargetCtx, d.Target)
	}
	err := deadReplyError(d, target)
	if d.HasSender && d.SenderCtx == n.id {
		if r, ok := n.track.reply(d.SenderID); ok {
			if n.onPathTo(from, r.ctx) {
				r.fail(err)
			} else {
				n.pol.refused(n.log, from, "dropped dead reply from outside the request's route", "awaits", r.ctx)
			}
			return
		}
	}
	if !n.onPathTo(from, d.TargetCtx) {
		// Only a context on the path to the message's target may say it
		// was not delivered: no made-up Undeliverable events.
		n.pol.refused(n.log, from, "dropped dead reply from outside the target's route", "target_ctx", d.TargetCtx)
		return
	}
	var sender *actor.PID
	if d.HasSender {
		sender = n.pidOf(d.SenderCtx, d.SenderID)
		if d.Cause == wire.CauseWatchLimit && from == d.TargetCtx && d.SenderCtx == n.id {
			n.track.dropWatch(d.TargetCtx, d.Target, sender) // the watch was refused there
		}
	}
	n.sys.EventStream.Publish(&Undeliverable{PID: target, Sender: sender, Err: err})
	n.log.Debug("dead reply", "target", target, "err", err)
}

// senderOfRefused names the sender of a frame this context sent and its
// destination refused as a whole (a kind it does not handle), from the
// quote of the frame in the dead reply: the kind's own reply-ID function
// (HandleKindReplies, HandleKindRun) reads the quoted head as it would
// read the frame. The name is a capability like any sender (a context
// cannot make up a pending request's ID), and deliverDead checks the
// reply's route as for any other.
func (n *Node) senderOfRefused(d *wire.DeadReply) {
	e, ok := n.kind(d.Refused)
	if !ok || e.local || e.bounce == nil {
		return
	}
	head := wire.AppendFrame(nil, wire.FrameSpec{Kind: d.Refused, Dst: d.TargetCtx, Src: n.id, Auth: n.id}, nil, []byte(d.RefusedHead))
	f, err := wire.ParseFrame(head, 0)
	if err != nil {
		return
	}
	var named wire.DeadReply
	if e.bounce(f, &named) && named.HasSender && named.SenderCtx == n.id {
		d.HasSender, d.SenderCtx, d.SenderID = true, named.SenderCtx, named.SenderID
	}
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

// headerCache is a link's last parsed kv block and the header map made of
// it, reused for the next frames whose block is the same bytes: a loop of
// sends under one span (every frame carries the same traceparent) then
// costs one comparison of the block per message, not a parse, a map and
// its strings. The map is shared by the messages that carried the same
// block, read-only: protoactor gives a receiver only a
// ReadonlyMessageHeader (actor.Context.MessageHeader), and nothing in
// spindle writes the header map of a received envelope (a send with
// headers copies them). It holds at most headerCacheMax bytes of block.
type headerCache struct {
	kv  []byte            // a copy of the block
	hdr map[string]string // its header map
}

// headerCacheMax bounds the block a link keeps: propagation headers (a
// traceparent block is ~70 bytes) fit; a larger block is parsed each time.
const headerCacheMax = 512

// parse returns the header map of kv (a frame's kv block, not retained).
func (c *headerCache) parse(kv []byte) (map[string]string, error) {
	if c.hdr != nil && string(kv) == string(c.kv) {
		return c.hdr, nil
	}
	m, err := wire.ParseKV(kv)
	if err != nil || len(kv) > headerCacheMax {
		return m, err
	}
	c.kv = append(c.kv[:0], kv...)
	c.hdr = m
	return m, nil
}
