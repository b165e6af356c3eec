package calls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// Defaults of Config's zero fields.
const (
	DefaultMaxConcurrent = 64
	DefaultMaxQueued     = 256
	DefaultMaxPerCaller  = 16
	DefaultMaxRequest    = 4 << 20
	DefaultMaxReply      = 16 << 20
	DefaultMaxHeld       = 64 << 20
)

// Config configures an Endpoint. The zero value is usable: every field has
// a documented default.
type Config struct {
	// MaxConcurrent is how many handlers of plain functions run at once in
	// this context; calls beyond it wait in a queue of MaxQueued, and calls
	// beyond that are refused with ErrBusy. Services have limits of their
	// own (ServiceConfig). Defaults DefaultMaxConcurrent, DefaultMaxQueued.
	MaxConcurrent int
	MaxQueued     int
	// MaxPerCaller bounds the calls (running and queued, functions and
	// services together) that one calling context other than an ancestor
	// may have here; beyond it a call is refused with ErrBusy. Ancestors
	// are trusted (docs/security.md) and bounded by the limits above only.
	// Default DefaultMaxPerCaller.
	MaxPerCaller int
	// MaxPerLink bounds the calls that all the non-ancestor contexts behind
	// one child link (its whole subtree) may have here together, so that a
	// child cannot multiply its budget by making up contexts below it.
	// Callers reached through the parent link are bounded per context only
	// (charging the parent link would let one hostile sibling use up the
	// budget of all the others). Default 4 × MaxPerCaller.
	MaxPerLink int
	// MaxRequest is the largest request body this context accepts (larger
	// ones are refused with ErrTooLarge) and sends. Default
	// DefaultMaxRequest.
	MaxRequest int
	// MaxReply is the largest answer this context accepts as a caller;
	// a larger one fails the call with ErrTooLarge. Default
	// DefaultMaxReply.
	MaxReply int
	// MaxHeld bounds the bytes of the request bodies of all the calls
	// running and queued here; a call beyond it is refused with ErrBusy.
	// It must be at least MaxRequest. Default DefaultMaxHeld.
	MaxHeld int
	// Logger receives the endpoint's logs. Default the node's logger.
	Logger *slog.Logger
}

func (c *Config) setDefaults(n *actors.Node) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConcurrent, DefaultMaxConcurrent)
	def(&c.MaxQueued, DefaultMaxQueued)
	def(&c.MaxPerCaller, DefaultMaxPerCaller)
	def(&c.MaxPerLink, 4*c.MaxPerCaller)
	def(&c.MaxRequest, DefaultMaxRequest)
	def(&c.MaxReply, DefaultMaxReply)
	def(&c.MaxHeld, DefaultMaxHeld)
	if c.Logger == nil {
		c.Logger = n.Logger()
	}
}

func (c *Config) validate() error {
	if c.MaxHeld < c.MaxRequest {
		return fmt.Errorf("calls: MaxHeld %d is below MaxRequest %d", c.MaxHeld, c.MaxRequest)
	}
	return nil
}

// endpointID is the ID under which an Endpoint is registered in its node's
// process registry, so that Of finds it.
const endpointID = "$spindle.calls"

// Endpoint is the calls state of one context: the functions and services
// it offers, the calls it runs for others, and the calls it waits for.
// Make one per node with New, in Config.Setup. An Endpoint is safe for
// concurrent use.
type Endpoint struct {
	node *actors.Node
	cfg  Config
	log  *slog.Logger
	self uint32
	// trusted are the contexts whose calls are privileged: the ancestors
	// and this context (fixed for a node's life).
	trusted map[uint32]bool

	regMu     sync.RWMutex // guards the registration tables
	funcs     map[string]*handler
	services  map[string]*Service
	errs      []errEntry
	errByName map[string]errEntry

	refusals refusals
	codecs   codecs
	decoders sync.Map // (*T)(nil) -> decoder[T], for answers
	out      outgoing // calls this context waits for
	in       incoming // calls this context runs

	base   context.Context // parent of every handler's ctx; cancelled by Close
	cancel context.CancelFunc
	done   context.Context // always done: sends that must never wait for room
	live   liveSet         // handler and Go goroutines

	closeOnce  sync.Once
	closedCh   chan struct{}
	sub        *eventstream.Subscription
	removeHook func()
	pid        *actor.PID
}

// registered is the Process under which an Endpoint is registered in its
// node's process registry, so that Of finds it; it takes no messages.
type registered struct{ ep *Endpoint }

var _ actor.Process = registered{}

func (registered) SendUserMessage(*actor.PID, any)   {}
func (registered) SendSystemMessage(*actor.PID, any) {}
func (registered) Stop(*actor.PID)                   {}

// New makes the Endpoint of node and registers the kinds of package calls
// (CALL_FUNCTION, CALL_SERVICE, CALL_REPLY, CALL_CANCEL) on it. Call it in
// Config.Setup, so that every context handles calls before its first frame
// (the root may also call it after NewNode, before it attaches a child).
// A second New for the same node fails (actors.ErrKindTaken). The endpoint
// is closed by the node's Shutdown (or by Close).
func New(node *actors.Node, cfg Config) (*Endpoint, error) {
	cfg.setDefaults(node)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ep := &Endpoint{
		node: node, cfg: cfg, log: cfg.Logger.With("component", "calls"), self: node.ID(),
		trusted:   map[uint32]bool{node.ID(): true},
		funcs:     map[string]*handler{},
		services:  map[string]*Service{},
		errByName: map[string]errEntry{},
		closedCh:  make(chan struct{}),
	}
	for _, p := range node.Parents() {
		ep.trusted[p] = true
	}
	ep.out.init()
	ep.in.init(cfg)
	ep.live.idle = make(chan struct{})
	ep.base, ep.cancel = context.WithCancel(context.Background())
	var stop context.CancelFunc
	ep.done, stop = context.WithCancel(context.Background())
	stop()
	if err := ep.registerKinds(); err != nil {
		ep.cancel()
		return nil, err
	}
	pid, ok := node.System().ProcessRegistry.Add(registered{ep}, endpointID)
	if !ok {
		ep.cancel()
		return nil, fmt.Errorf("calls: node %d already has an endpoint", node.ID())
	}
	ep.pid = pid
	ep.sub = node.System().EventStream.Subscribe(ep.onEvent)
	ep.removeHook = node.OnShutdown(ep.Close)
	return ep, nil
}

func (ep *Endpoint) registerKinds() error {
	n := ep.node
	for _, err := range []error{
		n.HandleKindRun(wire.KindCallFunction, ep.onCallFunction, replyIDOf),
		n.HandleKindRun(wire.KindCallService, ep.onCallService, replyIDOf),
		n.HandleKind(wire.KindCallReply, ep.onReply),
		n.HandleKind(wire.KindCallCancel, ep.onCancel),
	} {
		if err != nil {
			return fmt.Errorf("calls: %w", err)
		}
	}
	return nil
}

// Of returns the Endpoint that New made for node, or nil if there is none
// (or it was closed). It is how the root finds the endpoint its own
// Config.Setup made.
func Of(node *actors.Node) *Endpoint {
	p, ok := node.System().ProcessRegistry.GetLocal(endpointID)
	if !ok {
		return nil
	}
	r, _ := p.(registered)
	return r.ep
}

// Node returns the endpoint's node.
func (ep *Endpoint) Node() *actors.Node { return ep.node }

// ID returns the endpoint's context ID.
func (ep *Endpoint) ID() uint32 { return ep.self }

// Close stops the endpoint: calls it waits for fail with ErrClosed, the
// handlers it runs see their ctx cancelled, and new calls in either
// direction are refused. It waits for the handlers (and Go's goroutines)
// to return until ctx is done. Close is idempotent and is called by the
// node's Shutdown.
func (ep *Endpoint) Close(ctx context.Context) error {
	ep.closeOnce.Do(func() {
		for _, j := range ep.in.close() { // queued calls never run: tell their callers
			body := appendReplyHead(nil, j.key.id, statusErr)
			body = append(body, ep.encodeError(CodeClosed, fmt.Errorf("%w: context %d is closing", ErrClosed, ep.self))...)
			ep.answer(ctx, j.key.src, j.key.id, body)
		}
		ep.out.failAll(ErrClosed)
		ep.cancel()
		ep.node.System().EventStream.Unsubscribe(ep.sub)
		ep.node.System().ProcessRegistry.Remove(ep.pid)
		close(ep.closedCh)
		ep.removeHook()
		ep.live.close()
	})
	select {
	case <-ep.live.idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("calls: close: handlers still running: %w", ctx.Err())
	}
}

// onEvent follows the node's event stream: the death of a context fails
// the calls waiting on it and cancels those it made here; an undeliverable
// call frame fails its call.
func (ep *Endpoint) onEvent(evt any) {
	switch e := evt.(type) {
	case *actors.ContextDown:
		ep.out.contextDown(e.ID, e.Reason)
		ep.in.callerDown(e.ID)
	case *actors.Undeliverable:
		if e.Sender == nil || e.Sender.Address != ep.pid.Address {
			return
		}
		id, ok := parseSenderID(e.Sender.Id)
		if !ok {
			return
		}
		var de *actors.DeadError
		if errors.As(e.Err, &de) {
			ep.out.undeliverable(id, de)
		}
	}
}

// liveSet counts the goroutines an Endpoint owns; idle is closed once the
// set is closed and the last of them has left.
type liveSet struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{}
}

// enter counts one more goroutine, unless the set is closed.
func (l *liveSet) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.n++
	return true
}

func (l *liveSet) leave() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.closed && l.n == 0 {
		close(l.idle)
	}
}

func (l *liveSet) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.n == 0 {
		close(l.idle)
	}
}
