package actors

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/wire"
)

// reply is a one-shot Process that receives the answer to one request. It is
// registered in the node's ProcessRegistry, so its PID can travel as the
// sender of a message to any context.
//
// A reply's ID is a capability: whoever knows it can answer the request, so
// it carries replyIDBits random bits from crypto/rand and cannot be guessed
// from the IDs of other requests (see docs/security.md).
type reply struct {
	id   string
	pid  *actor.PID
	ctx  uint32 // the context the answer must come from
	ch   chan replyResult
	once sync.Once
	// The read baton (docs/links.md, "The read baton"): the link the
	// answer is expected on (nil for a local target), the ticket of its
	// read side when Expect gave it (0 otherwise), and whether the
	// requester still holds it (its goroutine only).
	via     *link
	ticket  uint64
	holding bool
	done    atomic.Bool // resolved (or abandoned): the requester stops reading
}

type replyResult struct {
	msg any
	err error
}

var _ actor.Process = (*reply)(nil)

func (r *reply) SendUserMessage(_ *actor.PID, m any) {
	_, msg, _ := actor.UnwrapEnvelope(m)
	if _, ok := msg.(*actor.DeadLetterResponse); ok {
		r.fail(&DeadError{Context: r.ctx, Code: wire.DeadNoActor, Reason: "no such actor"})
		return
	}
	r.resolve(replyResult{msg: msg})
}

func (r *reply) SendSystemMessage(_ *actor.PID, m any) {
	if t, ok := m.(*actor.Terminated); ok {
		r.resolve(replyResult{msg: t})
	}
}

func (r *reply) Stop(*actor.PID) {}

func (r *reply) fail(err error) { r.resolve(replyResult{err: err}) }

func (r *reply) resolve(res replyResult) {
	r.once.Do(func() {
		r.ch <- res
		r.settle()
	})
}

// settle ends the request for the link it is expected on (lnk.Link.Settled):
// once, when it is resolved or dropped.
func (r *reply) settle() {
	r.done.Store(true) // before Settled: a holder that reads on sees it
	if r.via != nil {
		r.via.Settled(r.ticket)
	}
}

// Answered implements lnk.Awaiter.
func (r *reply) Answered() bool { return r.done.Load() }

// newReply registers a reply process that waits for an answer from context
// ctx. It fails at once with a *DeadError when ctx is already known dead.
// An answer from another context is expected on the link toward it, whose
// read side the requester may get to hold (the read baton): the caller
// must wait through r.await, or dropReply.
func (n *Node) newReply(ctx uint32) (*reply, error) {
	r := &reply{id: newReplyID(), ctx: ctx, ch: make(chan replyResult, 1)}
	if ctx != n.id {
		if l, err := n.linkTo(ctx); err == nil {
			r.via, r.ticket = l, l.Expect()
			r.holding = r.ticket != 0
		}
	}
	pid, ok := n.sys.ProcessRegistry.Add(r, r.id)
	if !ok {
		r.abandon()
		return nil, fmt.Errorf("actors: reply ID %s in use", r.id)
	}
	r.pid = pid
	if err := n.track.addReply(r, ctx != n.id); err != nil {
		n.sys.ProcessRegistry.Remove(pid)
		r.abandon()
		return nil, err
	}
	return r, nil
}

// abandon settles a request nobody waits for any more, and gives up the
// read side if its requester still holds it.
func (r *reply) abandon() {
	r.once.Do(r.settle)
	if r.holding {
		r.holding = false
		r.via.Release(r.ticket)
	}
}

// replyIDBits is how many random bits name a reply process.
const replyIDBits = 128

// replyIDPrefix starts every reply process ID.
const replyIDPrefix = "$r"

// newReplyID returns a fresh unguessable reply process ID: replyIDPrefix and
// replyIDBits from crypto/rand in unpadded base64url (24 bytes in all). It
// is safe for concurrent use.
func newReplyID() string {
	var b [replyIDBits / 8]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	var id [len(replyIDPrefix) + (replyIDBits+5)/6]byte
	copy(id[:], replyIDPrefix)
	base64.RawURLEncoding.Encode(id[len(replyIDPrefix):], b[:])
	return string(id[:]) // the one allocation
}

func (n *Node) dropReply(r *reply) {
	n.track.dropReply(r)
	n.sys.ProcessRegistry.Remove(r.pid)
	r.abandon()
}

// wait waits for the answer: first on the link itself while the requester
// holds its read side (lnk.Link.Await), then on the reply's channel.
func (r *reply) wait(ctx context.Context) (any, error) {
	if r.holding {
		r.holding = false
		r.via.Await(ctx, r.ticket, r)
	}
	select {
	case res := <-r.ch:
		return res.msg, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Request sends msg to pid and waits for the answer (the receiving actor
// calls ctx.Respond). It returns as soon as the answer arrives, ctx is done,
// or the target's context dies, whichever is first; in the last case the
// error satisfies errors.Is(err, ErrContextDead) and carries the reason.
// To send headers, pass an *actor.MessageEnvelope as msg (its Sender is
// replaced). With a Propagator (Config.Propagator) the request also
// carries ctx's trace context. An answer that is not an R is an error.
func Request[R any](ctx context.Context, n *Node, pid *actor.PID, msg any) (R, error) {
	var zero R
	v, err := n.Request(ctx, pid, msg)
	if err != nil {
		return zero, err
	}
	r, ok := v.(R)
	if !ok {
		return zero, fmt.Errorf("actors: reply from %s is %T, want %T", pid, v, zero)
	}
	return r, nil
}

// Request is the untyped form of the generic Request function.
func (n *Node) Request(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	if pid == nil {
		return nil, fmt.Errorf("actors: request to nil PID")
	}
	target := n.ctxOf(pid)
	r, err := n.newReply(target)
	if err != nil {
		return nil, withPID(err, pid)
	}
	defer n.dropReply(r)
	env := &actor.MessageEnvelope{Message: msg, Sender: r.pid}
	if e, ok := msg.(*actor.MessageEnvelope); ok {
		env.Message, env.Header = e.Message, e.Header
	}
	var tr *injected
	if pr := n.prop.Load(); pr != nil {
		tr = pr.inject(ctx)
	}
	if target == n.id {
		if tr != nil { // a copy: the caller's header map is not changed
			h := make(map[string]string, len(env.Header)+tr.h.Len())
			for k, v := range env.Header {
				h[k] = v
			}
			tr.mergeInto(h)
			env.Header = h
		}
		n.sys.Root.Send(pid, env)
	} else if err := n.sendUserTraced(ctx, target, pid, env, inline, tr); err != nil {
		return nil, withPID(err, pid)
	}
	v, err := r.wait(ctx)
	return v, withPID(err, pid)
}

// withPID names pid in a *DeadError that does not name its target yet.
func withPID(err error, pid *actor.PID) error {
	if de, ok := err.(*DeadError); ok && de.PID == nil {
		cp := *de
		cp.PID = pid
		return &cp
	}
	return err
}

// call sends a node-level request frame to context dst and waits for the
// answer, which arrives as a user message to the reply process.
func (n *Node) call(ctx context.Context, dst uint32, kind wire.Kind, body func(replyID string) any) (any, error) {
	r, err := n.newReply(dst)
	if err != nil {
		return nil, err
	}
	defer n.dropReply(r)
	b, err := wire.Marshal(body(r.id))
	if err != nil {
		return nil, err
	}
	if err := n.sendFrameContext(ctx, wire.FrameSpec{Kind: kind, Dst: dst, Src: n.id, Auth: n.id}, nil, b); err != nil {
		return nil, err
	}
	return r.wait(ctx)
}
