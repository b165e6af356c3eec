package spawn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/wire"
)

// Hop names an existing context through which a new context is started
// (Common.Via): any Child, a via-child included (which is how chains of any
// depth are built), or ContextID for a context known by its ID only.
type Hop interface {
	ID() uint32
}

// ContextID is a Hop naming a context by its ID.
type ContextID uint32

// ID returns the context ID.
func (c ContextID) ID() uint32 { return uint32(c) }

// ErrViaOption is returned by a start with Common.Via set whose options
// hold something that cannot travel to the intermediate as data (a Binary,
// a Builder, a callback); see docs/via.md.
var ErrViaOption = errors.New("spawn: option cannot travel through Via")

// viaService is the calls service every child context registers (Main).
const viaService = "spindle.via"

// viaMethods are the methods a context can be asked to start through Via,
// by name. Registered by each method package, never from the wire.
var viaMethods = struct {
	sync.RWMutex
	m map[string]func(ctx context.Context, node *actors.Node, opts []byte) (Child, error)
}{m: map[string]func(context.Context, *actors.Node, []byte) (Child, error){}}

// RegisterViaMethod lets contexts start children with the method name on
// behalf of their ancestors (Common.Via). start gets the options the
// caller of StartVia gave, decoded from msgpack into a fresh *O. It is
// the seam for method authors, called from the method package's init
// (spawn.Local registers "local", spawn/command "command"); a second
// registration of a name panics. Only registered methods can be started
// through Via: nothing from the wire runs unless it was registered.
func RegisterViaMethod[O any](name string, start func(ctx context.Context, node *actors.Node, opts *O) (Child, error)) {
	viaMethods.Lock()
	defer viaMethods.Unlock()
	if _, dup := viaMethods.m[name]; dup {
		panic(fmt.Sprintf("spawn: via method %q registered twice", name))
	}
	viaMethods.m[name] = func(ctx context.Context, node *actors.Node, b []byte) (Child, error) {
		o := new(O)
		if err := wire.Unmarshal(b, o); err != nil {
			return nil, fmt.Errorf("spawn: via %s: options: %w", name, err)
		}
		return start(ctx, node, o)
	}
}

func viaMethod(name string) func(context.Context, *actors.Node, []byte) (Child, error) {
	viaMethods.RLock()
	defer viaMethods.RUnlock()
	return viaMethods.m[name]
}

// StartVia asks the context via to start a child with the registered
// method (RegisterViaMethod) and the method's options opts (plain data,
// sent as msgpack), and returns the child once the intermediate has it:
// the child is via's child (its runner runs there), routed from node
// directly, and the returned Process's Wait, Signal, Kill and Shutdown go
// through via. node must be an ancestor of via. It is the seam for method
// packages whose options have Common.Via set; spawn.Local does the same
// for "local".
//
// prompts are the method's callbacks, which stay here: the method asks
// them through AskOrigin while the start runs (docs/via.md).
func StartVia(ctx context.Context, node *actors.Node, via Hop, method string, opts any, prompts ...ViaPrompt) (*Process, error) {
	return StartViaBinaries(ctx, node, via, method, opts, nil, prompts...)
}

// StartViaBinaries is StartVia for a bootstrapped method whose caller
// gave Bootstrap.Binaries: they are offered to the intermediate by content
// address, with this program for its own platform. The intermediate
// fetches one from its parent (hop by hop, each verifying its SHA-256 and
// caching it) only when a target's cache lacks it (docs/via.md).
func StartViaBinaries(ctx context.Context, node *actors.Node, via Hop, method string, opts any, bins []*Binary, prompts ...ViaPrompt) (*Process, error) {
	h, err := startVia(ctx, node, via, method, opts, bins, prompts...)
	if err != nil {
		return nil, err
	}
	return &Process{node: node, name: h.name, via: h}, nil
}

// viaChild is the root's handle of a context started by another context:
// every operation on the process goes through the intermediate.
type viaChild struct {
	node *actors.Node
	ep   *calls.Endpoint
	via  uint32
	id   uint32
	name string
	info Info

	dead    chan struct{}
	deadErr error // set before dead is closed

	waitMu   sync.Mutex
	waited   bool // waitErr is the answer (not the error of a caller's ctx)
	waitErr  error
	downOnce sync.Once
	downErr  error
}

var _ Child = (*viaChild)(nil)

func startVia(ctx context.Context, node *actors.Node, via Hop, method string, opts any, bins []*Binary, prompts ...ViaPrompt) (*viaChild, error) {
	if via == nil {
		return nil, errors.New("spawn: via is nil")
	}
	hop := via.ID()
	if hop == node.ID() {
		return nil, fmt.Errorf("spawn: via %d is this context: start the child directly", hop)
	}
	body, err := wire.Marshal(opts)
	if err != nil {
		return nil, fmt.Errorf("spawn: via %s options: %w", method, err)
	}
	t, ep, err := viaTableOf(node)
	if err != nil {
		return nil, err
	}
	req := &viaStartReq{Method: method, Opts: body, Start: newToken()}
	if req.Binaries, err = offerBinaries(node, ep, bins); err != nil {
		return nil, err
	}
	if len(prompts) > 0 {
		token, closeSession, err := t.prompts.open(ep, hop, prompts)
		if err != nil {
			return nil, err
		}
		defer closeSession()
		req.Token, req.Prompts = token, promptNames(prompts)
	}
	t.beginStart()
	defer t.endStart()
	resp, err := calls.CallService[viaStartReq, viaStartResp](ctx, ep, hop, viaService, "start", req)
	if err != nil {
		if ctx.Err() != nil { // its answer may be on its way: no child must be left behind
			abandon(ep, hop, req.Start)
		}
		return nil, fmt.Errorf("spawn: start %s via context %d: %w", method, hop, err)
	}
	h := &viaChild{node: node, ep: ep, via: hop, id: resp.ID, name: resp.Name, info: resp.Info, dead: make(chan struct{})}
	h.info.Via = hop
	t.add(h)
	return h, nil
}

func (h *viaChild) ID() uint32      { return h.id }
func (h *viaChild) Name() string    { return h.name }
func (h *viaChild) Address() string { return actors.Address(h.id) }
func (h *viaChild) Info() Info      { return h.info }

func (h *viaChild) Spawn(ctx context.Context, kind, name string) (*actor.PID, error) {
	return h.node.SpawnRemote(ctx, h.id, kind, name)
}

func (h *viaChild) Dead() <-chan struct{} { return h.dead }

func (h *viaChild) DeadReason() error {
	select {
	case <-h.dead:
		return h.deadErr
	default:
		return nil
	}
}

// markDead records the context's death (once; the via table calls it).
func (h *viaChild) markDead(err error) {
	h.deadErr = err
	close(h.dead)
}

// Wait waits for the child's death, then asks the intermediate for the
// exit status. When the intermediate is gone too, the child's death cause
// is the answer.
func (h *viaChild) Wait(ctx context.Context) error {
	select {
	case <-h.dead:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.waitMu.Lock()
	defer h.waitMu.Unlock()
	if h.waited {
		return h.waitErr
	}
	err := h.askWait(ctx)
	if ctx.Err() != nil { // our caller gave up: ask again next time
		return err
	}
	h.waited, h.waitErr = true, err
	return err
}

// setWait records the answer a shutdown brought.
func (h *viaChild) setWait(err error) {
	h.waitMu.Lock()
	defer h.waitMu.Unlock()
	if !h.waited {
		h.waited, h.waitErr = true, err
	}
}

func (h *viaChild) askWait(ctx context.Context) error {
	resp, err := calls.CallService[viaIDReq, viaExit](ctx, h.ep, h.via, viaService, "wait", &viaIDReq{ID: h.id})
	if errors.Is(err, actors.ErrContextDead) || errors.Is(err, calls.ErrClosed) {
		// The intermediate is gone or going: the death's cause says it.
		r := h.DeadReason()
		if code, ok := ExitStatus(r); ok && code == 0 {
			return nil
		}
		return r
	}
	if err != nil {
		return err
	}
	return resp.err(h.info)
}

func (h *viaChild) Signal(ctx context.Context, sig runner.Signal) error {
	if isDone(h.dead) {
		return os.ErrProcessDone
	}
	resp, err := calls.CallService[viaSignalReq, viaSignalResp](ctx, h.ep, h.via, viaService, "signal",
		&viaSignalReq{ID: h.id, Signal: string(sig)})
	switch {
	case errors.Is(err, actors.ErrContextDead):
		return os.ErrProcessDone
	case err != nil:
		return err
	case resp.Done:
		return os.ErrProcessDone
	case resp.Unsupported:
		return fmt.Errorf("spawn: signal %s to %s: %s: %w", sig, h.name, resp.Msg, errors.ErrUnsupported)
	case resp.Msg != "":
		return fmt.Errorf("spawn: signal %s to %s: %s", sig, h.name, resp.Msg)
	}
	return nil
}

// Kill asks the intermediate to kill the child. It returns once the
// intermediate has been asked (bounded by killTimeout) and is safe to call
// more than once and after the end.
func (h *viaChild) Kill() error {
	if isDone(h.dead) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	_, err := calls.CallService[viaIDReq, viaNone](ctx, h.ep, h.via, viaService, "kill", &viaIDReq{ID: h.id})
	if err != nil && !errors.Is(err, actors.ErrContextDead) {
		return fmt.Errorf("spawn: kill %s via context %d: %w", h.name, h.via, err)
	}
	return nil
}

// Shutdown runs the intermediate's Shutdown of the child (the ladder every
// method shares) and waits for the child's death here. It returns the
// intermediate's answer: nil, ctx's error, the exit status of a child that
// failed by itself; or the intermediate's death when it went first.
func (h *viaChild) Shutdown(ctx context.Context) error {
	h.downOnce.Do(func() { h.downErr = h.shutdown(ctx) })
	return h.downErr
}

func (h *viaChild) shutdown(ctx context.Context) error {
	if isDone(h.dead) {
		err := h.Wait(ctx)
		if _, ok := ExitStatus(err); ok && !isOwnSignal(err) {
			return err
		}
		return nil
	}
	resp, err := calls.CallService[viaIDReq, viaDown](ctx, h.ep, h.via, viaService, "shutdown", &viaIDReq{ID: h.id})
	if err != nil {
		return fmt.Errorf("spawn: shut down %s via context %d: %w", h.name, h.via, err)
	}
	h.setWait(resp.Wait.err(h.info))
	select {
	case <-h.dead:
	case <-ctx.Done():
		return ctx.Err()
	}
	return resp.Shutdown.err(h.info)
}

// isOwnSignal reports an exit by SIGTERM or SIGKILL (ours, in a ladder).
func isOwnSignal(err error) bool {
	var re *RemoteExitError
	return errors.As(err, &re) && (re.Signal == "TERM" || re.Signal == "KILL")
}

// abandon tells hop that the start named start is given up (bounded by
// killTimeout; a dead hop has nothing left to kill).
func abandon(ep *calls.Endpoint, hop uint32, start string) {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	_, _ = calls.CallService[viaAbandonReq, viaNone](ctx, ep, hop, viaService, "abandon", &viaAbandonReq{Start: start})
}
