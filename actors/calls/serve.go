package calls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// The serving side: calls other contexts (or this one) make here. A call
// that passes the policy and the limits is a job; a job runs at once on a
// goroutine of its own when its pool has room, else it waits in the pool's
// queue, and the goroutine that finishes a job runs the next queued one of
// the same pool.

// jobKey names a call here: the verified caller context and its call ID.
type jobKey struct {
	src uint32
	id  callID
}

// job is one call admitted here.
type job struct {
	key      jobKey
	label    string
	h        *handler
	pool     *pool
	caller   Caller
	trusted  bool   // not counted against MaxPerCaller and MaxPerLink
	link     uint32 // the child link the caller is behind, if behind
	behind   bool
	body     []byte
	deadline time.Time       // zero: none
	trace    *actors.Headers // propagated headers (trace context), nil for none

	// Guarded by incoming.mu.
	running   bool
	abandoned bool // the caller cancelled or died: no answer
	ctx       context.Context
	cancel    context.CancelFunc
}

// pool bounds the jobs of plain functions, or of one service.
type pool struct {
	max, maxQueued int
	running        int
	queue          []*job
}

// incoming is the table of the calls this context runs or queues.
type incoming struct {
	mu        sync.Mutex
	jobs      map[jobKey]*job
	perCaller map[uint32]int
	perLink   map[uint32]int // calls of untrusted callers behind each child link
	held      int            // request bytes of every job
	fn        pool
	closed    bool
	cfg       Config
}

func (in *incoming) init(cfg Config) {
	in.cfg = cfg
	in.jobs = map[jobKey]*job{}
	in.perCaller = map[uint32]int{}
	in.perLink = map[uint32]int{}
	in.fn = pool{max: cfg.MaxConcurrent, maxQueued: cfg.MaxQueued}
}

// onCallFunction and onCallService admit a call on the reader goroutine;
// a call that can run now runs right after its frame, on the reader under
// the link's watchdog (actors.RunHandler): no goroutine hand-off between
// the frame and the handler.
func (ep *Endpoint) onCallFunction(f wire.Frame) (func(), error) {
	h := f.Header()
	return ep.runner(ep.onRequest(wire.KindCallFunction, h.Src(), h.Auth(), f.Body(), ep.node.FrameHeaders(f))), nil
}

func (ep *Endpoint) onCallService(f wire.Frame) (func(), error) {
	h := f.Header()
	return ep.runner(ep.onRequest(wire.KindCallService, h.Src(), h.Auth(), f.Body(), ep.node.FrameHeaders(f))), nil
}

// runner returns the run of a started job, nil for none.
func (ep *Endpoint) runner(j *job) func() {
	if j == nil {
		return nil
	}
	return func() { ep.work(j) }
}

// serveLocal admits a call this context makes to itself (trace: the
// headers the node's Propagator set for the caller's ctx); it runs on a
// goroutine of its own.
func (ep *Endpoint) serveLocal(kind wire.Kind, b []byte, trace *actors.Headers) {
	if j := ep.onRequest(kind, ep.self, ep.self, b, trace); j != nil {
		go ep.work(j)
	}
}

// onRequest admits a call from the verified context src (auth its frame's
// authority; trace the frame's propagated headers) or refuses it with an
// error reply, and returns the job to run now (nil: queued or refused);
// the caller runs it. It does not block: it runs on a link's reader
// goroutine.
func (ep *Endpoint) onRequest(kind wire.Kind, src, auth uint32, b []byte, trace *actors.Headers) *job {
	r, err := parseRequest(b)
	if err != nil {
		ep.refused(src, "refused malformed call", "kind", kind, "err", err)
		if len(b) >= offID+sizeID {
			ep.replyError(src, callID(b[offID:offID+sizeID]), CodeBadRequest, fmt.Errorf("%w: %v", ErrBadRequest, err))
		}
		return nil
	}
	caller := Caller{ID: src, Self: src == ep.self}
	caller.Ancestor = !caller.Self && ep.trusted[src] && ep.trusted[auth]
	link, behind := uint32(0), false
	if !caller.Self && !caller.Ancestor {
		link, behind = ep.node.ChildVia(src)
		caller.Descendant = behind
	}
	h, pl, what, code, err := ep.lookup(kind, r, caller)
	if err != nil {
		if code == CodeRefused {
			ep.refused(src, "refused call", "kind", kind, "name", r.Name, "method", r.Method)
		}
		ep.replyError(src, r.ID, code, err)
		return nil
	}
	if len(r.Body) > ep.cfg.MaxRequest {
		ep.replyError(src, r.ID, CodeTooLarge, fmt.Errorf("%w: request of %d bytes, MaxRequest is %d", ErrTooLarge, len(r.Body), ep.cfg.MaxRequest))
		return nil
	}
	j := &job{key: jobKey{src, r.ID}, label: what, h: h, pool: pl, caller: caller,
		trusted: caller.Self || caller.Ancestor, link: link, behind: behind, body: bytes.Clone(r.Body), trace: trace}
	if r.Timeout > 0 {
		j.deadline = time.Now().Add(time.Duration(r.Timeout))
	}
	start, code, err := ep.admit(j)
	if err != nil {
		if code == CodeBusy {
			ep.refused(src, "refused call: busy", "name", what)
		}
		ep.replyError(src, r.ID, code, err)
		return nil
	}
	if !start {
		return nil
	}
	return j
}

// lookup finds the handler of a request and checks the caller's authority:
// CALL_FUNCTION only from ancestors (and this context), checked before the
// name, so other contexts learn no function names; CALL_SERVICE as the
// service's Policy says, checked before the method, so a refused caller
// learns which services exist but none of their methods.
func (ep *Endpoint) lookup(kind wire.Kind, r request, c Caller) (*handler, *pool, string, Code, error) {
	if kind == wire.KindCallFunction {
		if !Ancestors(c) {
			return nil, nil, "", CodeRefused, fmt.Errorf("%w: CALL_FUNCTION from context %d, which is not an ancestor of context %d",
				ErrRefused, c.ID, ep.self)
		}
		ep.regMu.RLock()
		h, ok := ep.funcs[r.Name]
		ep.regMu.RUnlock()
		if !ok || r.Method != "" {
			return nil, nil, "", CodeNotFound, fmt.Errorf("%w: function %q in context %d", ErrNotFound, r.Name, ep.self)
		}
		return h, &ep.in.fn, r.Name, "", nil
	}
	ep.regMu.RLock()
	svc, ok := ep.services[r.Name]
	var h *handler
	if ok {
		h = svc.methods[r.Method]
	}
	ep.regMu.RUnlock()
	if !ok {
		return nil, nil, "", CodeNotFound, fmt.Errorf("%w: service %q in context %d", ErrNotFound, r.Name, ep.self)
	}
	if !svc.allows(c) { // the user's policy runs without the endpoint's locks
		return nil, nil, "", CodeRefused, fmt.Errorf("%w: service %q does not accept calls from context %d", ErrRefused, r.Name, c.ID)
	}
	if h == nil {
		return nil, nil, "", CodeNotFound, fmt.Errorf("%w: method %q of service %q in context %d", ErrNotFound, r.Method, r.Name, ep.self)
	}
	return h, &svc.pool, label(r.Name, r.Method), "", nil
}

// admit records j within the limits; start says that j runs now (the
// caller starts its goroutine), else it was queued.
func (ep *Endpoint) admit(j *job) (start bool, code Code, err error) {
	in := &ep.in
	in.mu.Lock()
	defer in.mu.Unlock()
	src := j.key.src
	switch {
	case in.closed:
		return false, CodeClosed, fmt.Errorf("%w: context %d is closing", ErrClosed, ep.self)
	case in.jobs[j.key] != nil:
		return false, CodeBadRequest, fmt.Errorf("%w: call ID already in use", ErrBadRequest)
	case !j.trusted && in.perCaller[src] >= in.cfg.MaxPerCaller:
		return false, CodeBusy, fmt.Errorf("%w: context %d already has %d calls here (MaxPerCaller)", ErrBusy, src, in.cfg.MaxPerCaller)
	case !j.trusted && j.behind && in.perLink[j.link] >= in.cfg.MaxPerLink:
		return false, CodeBusy, fmt.Errorf("%w: the contexts behind child %d already have %d calls here (MaxPerLink)", ErrBusy, j.link, in.cfg.MaxPerLink)
	case in.held+len(j.body) > in.cfg.MaxHeld:
		return false, CodeBusy, fmt.Errorf("%w: calls here already hold %d bytes (MaxHeld %d)", ErrBusy, in.held, in.cfg.MaxHeld)
	}
	p := j.pool
	switch {
	case p.running < p.max:
		if !ep.live.enter() {
			return false, CodeClosed, fmt.Errorf("%w: context %d is closing", ErrClosed, ep.self)
		}
		p.running++
		start = true
		ep.startLocked(j)
	case len(p.queue) < p.maxQueued:
		p.queue = append(p.queue, j)
	default:
		return false, CodeBusy, fmt.Errorf("%w: %d running and %d queued for %s's pool", ErrBusy, p.running, len(p.queue), j.label)
	}
	in.jobs[j.key] = j
	in.perCaller[src]++
	if !j.trusted && j.behind {
		in.perLink[j.link]++
	}
	in.held += len(j.body)
	return start, "", nil
}

// startLocked gives j its ctx: the endpoint's, with the caller, the
// caller's trace context, the caller's deadline and a cancel for
// CALL_CANCEL and the caller's death.
func (ep *Endpoint) startLocked(j *job) {
	ctx := context.WithValue(ep.base, callerKey{}, j.caller)
	if j.trace != nil {
		ctx = ep.node.ExtractContext(ctx, j.trace)
		j.trace = nil
	}
	if j.deadline.IsZero() {
		j.ctx, j.cancel = context.WithCancel(ctx)
	} else {
		j.ctx, j.cancel = context.WithDeadline(ctx, j.deadline)
	}
	j.running = true
}

// work runs j, then the queued jobs of its pool, until the queue is empty.
func (ep *Endpoint) work(j *job) {
	defer ep.live.leave()
	for j != nil {
		ep.run(j)
		j = ep.finish(j)
	}
}

// run runs one job's handler and answers its caller.
func (ep *Endpoint) run(j *job) {
	defer j.cancel()
	buf := getBuf()
	b := appendReplyHead((*buf)[:0], j.key.id, statusOK)
	out, code, err := ep.invokeHandler(j, b)
	if err == nil && len(out)-replyHead > ep.cfg.MaxReply {
		code, err = CodeTooLarge, fmt.Errorf("%w: answer of %d bytes, MaxReply is %d", ErrTooLarge, len(out)-replyHead, ep.cfg.MaxReply)
	}
	if err != nil {
		out = appendReplyHead(b[:0], j.key.id, statusErr)
		out = append(out, ep.encodeError(code, err)...)
	}
	ep.in.mu.Lock()
	abandoned := j.abandoned
	ep.in.mu.Unlock()
	if !abandoned {
		ep.answer(j.ctx, j.key.src, j.key.id, out)
	}
	*buf = out
	putBuf(buf)
}

// invokeHandler runs the handler, turning a panic into CodePanic.
func (ep *Endpoint) invokeHandler(j *job, dst []byte) (out []byte, code Code, err error) {
	defer func() {
		if p := recover(); p != nil {
			stack := debug.Stack()
			ep.log.Error("call handler panicked", "name", j.label, "caller", j.key.src, "panic", p)
			out, code, err = dst, CodePanic, fmt.Errorf("%w: %v\n%s", ErrPanic, p, cut(string(stack), 8<<10))
		}
	}()
	out, err = j.h.fn(j.ctx, j.body, dst)
	switch {
	case err == nil:
		return out, "", nil
	case errors.As(err, new(*badRequestError)):
		return dst, CodeBadRequest, err
	}
	return dst, CodeError, err
}

// answer sends a reply body (head included) to the caller src.
func (ep *Endpoint) answer(ctx context.Context, src uint32, id callID, body []byte) {
	if src == ep.self {
		_, status, rest, _ := parseReply(body)
		ep.deliver(ep.self, id, status, rest)
		return
	}
	if err := ep.node.SendKindContext(ctx, wire.KindCallReply, src, body); err != nil {
		ep.log.Debug("call reply not sent", "to", src, "err", err)
	}
}

// replyError answers a refused call at once (from a reader goroutine: the
// frame is only queued).
func (ep *Endpoint) replyError(src uint32, id callID, code Code, err error) {
	body := appendReplyHead(nil, id, statusErr)
	body = append(body, ep.encodeError(code, err)...)
	if src == ep.self {
		ep.deliver(ep.self, id, statusErr, body[replyHead:])
		return
	}
	if sErr := ep.node.SendKind(wire.KindCallReply, src, body); sErr != nil {
		ep.log.Debug("call refusal not sent", "to", src, "err", sErr)
	}
}

// finish forgets j and returns the next queued job of its pool, started,
// or nil (the pool has one running job less).
func (ep *Endpoint) finish(j *job) *job {
	in := &ep.in
	in.mu.Lock()
	defer in.mu.Unlock()
	in.forgetLocked(j)
	p := j.pool
	if len(p.queue) > 0 && !in.closed {
		next := p.queue[0]
		copy(p.queue, p.queue[1:])
		p.queue[len(p.queue)-1] = nil
		p.queue = p.queue[:len(p.queue)-1]
		ep.startLocked(next)
		return next
	}
	p.running--
	return nil
}

// forgetLocked releases what j holds.
func (in *incoming) forgetLocked(j *job) {
	if in.jobs[j.key] != j {
		return
	}
	delete(in.jobs, j.key)
	if in.perCaller[j.key.src]--; in.perCaller[j.key.src] <= 0 {
		delete(in.perCaller, j.key.src)
	}
	if !j.trusted && j.behind {
		if in.perLink[j.link]--; in.perLink[j.link] <= 0 {
			delete(in.perLink, j.link)
		}
	}
	in.held -= len(j.body)
}

// dequeueLocked removes a queued job from its pool's queue.
func dequeueLocked(j *job) {
	q := j.pool.queue
	for i, x := range q {
		if x == j {
			copy(q[i:], q[i+1:])
			q[len(q)-1] = nil
			j.pool.queue = q[:len(q)-1]
			return
		}
	}
}

// onCancel handles CALL_CANCEL: only the context that made a call can
// cancel it (the key includes the verified source). Unknown calls are
// ignored: no record is kept.
func (ep *Endpoint) onCancel(f wire.Frame) error {
	id, err := parseCancel(f.Body())
	if err != nil {
		ep.refused(f.Header().Src(), "dropped malformed call cancel", "err", err)
		return nil
	}
	ep.in.cancelCall(jobKey{src: f.Header().Src(), id: id})
	return nil
}

// cancelCall abandons one call: a running handler sees its ctx cancelled,
// a queued call is dropped.
func (in *incoming) cancelCall(k jobKey) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if j := in.jobs[k]; j != nil {
		in.abandonLocked(j)
	}
}

func (in *incoming) abandonLocked(j *job) {
	j.abandoned = true
	if j.running {
		j.cancel()
		return
	}
	dequeueLocked(j)
	in.forgetLocked(j)
}

// callerDown abandons every call of a context that died.
func (in *incoming) callerDown(src uint32) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.perCaller[src] == 0 {
		return
	}
	for k, j := range in.jobs {
		if k.src == src {
			in.abandonLocked(j)
		}
	}
}

// close refuses new calls and drops the queued ones (running handlers are
// cancelled through the endpoint's base ctx). It returns the queued jobs,
// whose callers get CodeClosed.
func (in *incoming) close() []*job {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	var dropped []*job
	for _, j := range in.jobs {
		if !j.running {
			j.abandoned = true
			dequeueLocked(j)
			in.forgetLocked(j)
			dropped = append(dropped, j)
		}
	}
	return dropped
}

// snapshot reports what the calls here hold, for tests and diagnostics.
func (in *incoming) snapshot() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := Stats{Calls: len(in.jobs), HeldBytes: in.held, Callers: len(in.perCaller)}
	for _, j := range in.jobs {
		if j.running {
			s.Running++
		}
	}
	return s
}

// Stats is what an Endpoint holds for the calls it runs.
type Stats struct {
	Calls     int // running and queued
	Running   int
	Callers   int // contexts with calls here
	HeldBytes int // request bytes held
	Pending   int // calls this context waits for
}

// Stats reports what ep holds now (for tests, diagnostics and metrics).
func (ep *Endpoint) Stats() Stats {
	s := ep.in.snapshot()
	ep.out.mu.Lock()
	s.Pending = len(ep.out.calls)
	ep.out.mu.Unlock()
	return s
}

// badRequestError is a request that does not decode into the handler's
// request type.
type badRequestError struct{ err error }

func (e *badRequestError) Error() string { return fmt.Sprintf("%v: %v", ErrBadRequest, e.err) }
func (e *badRequestError) Unwrap() error { return e.err }
