package calls

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// Call calls the function name registered in context ctxID (with
// [Handle]) with req, and returns its answer. It returns as soon as the
// answer arrives, ctx is done, or ctxID's context dies, whichever is
// first:
//
//   - the handler's error is a *RemoteError (errors.Is / errors.As reach
//     the handler's error when it was registered by name, see
//     RegisterError; the callee's refusals match ErrRefused, ErrBusy,
//     ErrNotFound, ErrBadRequest, ErrTooLarge);
//   - when ctx is done first, Call returns ctx's error and the handler's
//     ctx in the callee is cancelled (ctx's deadline is the handler's
//     deadline there too);
//   - when the callee's context dies or cannot be reached, the error
//     matches actors.ErrContextDead (errors.As gives the *actors.DeadError
//     and its typed cause).
//
// ctxID may be this context's own ID: the call then runs here, under the
// same limits. Call blocks: never call it from an actor's Receive or a
// KindHandler (use Go). It is safe for concurrent use.
func Call[Req, Resp any](ctx context.Context, ep *Endpoint, ctxID uint32, name string, req *Req) (*Resp, error) {
	return invoke[Resp](ctx, ep, wire.KindCallFunction, ctxID, name, "", req)
}

// CallService calls method of the service named service in context ctxID
// (see [NewService]); it is Call for services, with the same results. The
// service's Policy decides whether this context may call it (ErrRefused).
func CallService[Req, Resp any](ctx context.Context, ep *Endpoint, ctxID uint32, service, method string, req *Req) (*Resp, error) {
	if method == "" {
		return nil, fmt.Errorf("calls: CallService(%q): empty method name", service)
	}
	return invoke[Resp](ctx, ep, wire.KindCallService, ctxID, service, method, req)
}

func invoke[Resp any](ctx context.Context, ep *Endpoint, kind wire.Kind, target uint32, name, method string, req any) (*Resp, error) {
	body, err := ep.call(ctx, kind, target, name, method, req)
	if err != nil {
		return nil, err
	}
	resp, err := decoderFor[Resp](ep)(body)
	if err != nil {
		return nil, fmt.Errorf("calls: %s in context %d: answer: %w", label(name, method), target, err)
	}
	return resp, nil
}

// label names a call in errors: the function, or "service.method".
func label(name, method string) string {
	if method == "" {
		return name
	}
	return name + "." + method
}

// call sends one request and waits for its answer's body.
func (ep *Endpoint) call(ctx context.Context, kind wire.Kind, target uint32, name, method string, req any) ([]byte, error) {
	p, err := ep.start(ctx, kind, target, name, method, req, make(chan outcome, 1), 0)
	if err != nil {
		return nil, err
	}
	return ep.wait(ctx, p)
}

// start sends one request and records it as pending; its outcome will be
// sent to ch, which must have room for it. The callee's deadline is ctx's,
// or timeout from now if that is sooner (timeout 0: none).
func (ep *Endpoint) start(ctx context.Context, kind wire.Kind, target uint32, name, method string, req any,
	ch chan outcome, timeout time.Duration) (*pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	left := int64(timeout)
	if dl, ok := ctx.Deadline(); ok {
		d := int64(time.Until(dl))
		if d <= 0 {
			return nil, context.DeadlineExceeded
		}
		if left == 0 || d < left {
			left = d
		}
	}
	p := &pending{id: newCallID(), target: target, name: label(name, method), ch: ch}
	buf := getBuf()
	b, err := appendRequestHead((*buf)[:0], p.id, left, name, method)
	head := len(b)
	if err == nil {
		b, err = ep.node.Registry().AppendPayload(b, req)
	}
	if err == nil && len(b)-head > ep.cfg.MaxRequest {
		err = fmt.Errorf("%w: request of %d bytes, MaxRequest is %d", ErrTooLarge, len(b)-head, ep.cfg.MaxRequest)
	}
	if err == nil {
		err = ep.out.add(p)
	}
	if err == nil {
		if target == ep.self {
			ep.serveLocal(kind, b, ep.node.Propagate(ctx))
		} else if err = ep.node.SendKindContext(ctx, kind, target, b); err != nil {
			ep.out.take(p.id)
		}
	}
	*buf = b
	putBuf(buf)
	if err != nil {
		return nil, fmt.Errorf("calls: %s to context %d: %w", p.name, target, err)
	}
	return p, nil
}

// wait waits for the outcome of p; when ctx is done first, it cancels the
// call in the callee.
func (ep *Endpoint) wait(ctx context.Context, p *pending) ([]byte, error) {
	var res outcome
	select {
	case res = <-p.ch:
	case <-ctx.Done():
		if !ep.abandon(p) {
			res = <-p.ch // resolved meanwhile: the resolver sends right after taking it
			break
		}
		return nil, ctx.Err()
	}
	return ep.result(p, res)
}

// abandon gives up on p: it reports false if p was resolved meanwhile
// (its outcome is then on p.ch, or about to be), else it cancels the call
// in the callee.
func (ep *Endpoint) abandon(p *pending) bool {
	if ep.out.take(p.id) == nil {
		return false
	}
	ep.sendCancel(p.target, p.id)
	return true
}

// result turns the outcome of p into an answer's body or an error.
func (ep *Endpoint) result(p *pending, res outcome) ([]byte, error) {
	switch {
	case res.err != nil:
		return nil, res.err
	case res.status == statusErr:
		return nil, ep.decodeError(p.target, p.name, res.body)
	}
	return res.body, nil
}

func (ep *Endpoint) sendCancel(target uint32, id callID) {
	if target == ep.self {
		ep.in.cancelCall(jobKey{src: ep.self, id: id})
		return
	}
	// Never wait for room: the caller has given up already. A cancel that
	// finds the link's queue full is not sent (the handler then ends at its
	// deadline, or with the target's death); a dead target has forgotten
	// the call anyway.
	if err := ep.node.SendKindContext(ep.done, wire.KindCallCancel, target, id[:]); err != nil {
		ep.log.Debug("call cancel not sent", "to", target, "err", err)
	}
}

// onReply handles CALL_REPLY: the answer of a call made here, accepted only
// from the context the call was sent to.
func (ep *Endpoint) onReply(f wire.Frame) error {
	src := f.Header().Src()
	id, status, body, err := parseReply(f.Body())
	if err != nil {
		ep.refused(src, "dropped malformed call reply", "err", err)
		return nil
	}
	ep.deliver(src, id, status, body)
	return nil
}

// deliver resolves the pending call id with an answer from context from
// (body is copied).
func (ep *Endpoint) deliver(from uint32, id callID, status byte, body []byte) {
	p, ok := ep.out.takeFrom(id, from)
	if !ok {
		if p != nil {
			ep.refused(from, "dropped call reply from a context the call was not sent to", "awaits", p.target)
		}
		return
	}
	if len(body) > ep.cfg.MaxReply {
		p.ch <- outcome{p: p, err: fmt.Errorf("calls: %s in context %d: %w: answer of %d bytes, MaxReply is %d",
			p.name, from, ErrTooLarge, len(body), ep.cfg.MaxReply)}
		return
	}
	p.ch <- outcome{p: p, status: status, body: bytes.Clone(body)}
}

// pending is a call this context waits for.
type pending struct {
	id     callID
	target uint32
	name   string
	ch     chan outcome // buffered 1; sent once, by whoever took p from outgoing
}

// outcome is how a call ended: an answer (status, body) or an error.
type outcome struct {
	p      *pending
	status byte
	body   []byte
	err    error
}

// outgoing is the table of the calls this context waits for. Whoever takes
// a call out of it resolves it: exactly one outcome per call.
type outgoing struct {
	mu     sync.Mutex
	calls  map[callID]*pending
	closed error
}

func (o *outgoing) init() { o.calls = map[callID]*pending{} }

func (o *outgoing) add(p *pending) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed != nil {
		return o.closed
	}
	o.calls[p.id] = p
	return nil
}

// take removes call id; nil if it is no longer pending.
func (o *outgoing) take(id callID) *pending {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.calls[id]
	delete(o.calls, id)
	return p
}

// takeFrom removes call id if it was sent to context from; a call sent
// elsewhere is returned with ok false and stays pending.
func (o *outgoing) takeFrom(id callID, from uint32) (p *pending, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p = o.calls[id]
	if p == nil || p.target != from {
		return p, false
	}
	delete(o.calls, id)
	return p, true
}

// contextDown fails every call waiting on context id.
func (o *outgoing) contextDown(id uint32, why *actors.DeadError) {
	o.mu.Lock()
	var failed []*pending
	for k, p := range o.calls {
		if p.target == id {
			failed = append(failed, p)
			delete(o.calls, k)
		}
	}
	o.mu.Unlock()
	for _, p := range failed {
		p.ch <- outcome{p: p, err: fmt.Errorf("calls: %s to context %d: %w", p.name, id, why)}
	}
}

// undeliverable fails call id, whose frame could not be delivered, if the
// dead reply is about its target.
func (o *outgoing) undeliverable(id callID, why *actors.DeadError) {
	p, ok := o.takeFrom(id, why.Context)
	if ok {
		p.ch <- outcome{p: p, err: fmt.Errorf("calls: %s to context %d: %w", p.name, p.target, why)}
	}
}

// failAll fails every pending call and refuses new ones with err.
func (o *outgoing) failAll(err error) {
	o.mu.Lock()
	o.closed = err
	all := o.calls
	o.calls = map[callID]*pending{}
	o.mu.Unlock()
	for _, p := range all {
		p.ch <- outcome{p: p, err: fmt.Errorf("calls: %s to context %d: %w", p.name, p.target, err)}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf returns b to the pool unless a big message grew it.
func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}
