package spawn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn/runner"
)

// The requests and answers of the spindle.via service (msgpack).
type (
	viaStartReq struct {
		Method  string
		Opts    []byte   // the method's options, msgpack
		Token   string   // the capability to ask the origin's prompts ("" for none)
		Prompts []string // their names
		Start   string   // names this start for abandon ("" for none)
		// Binaries the origin offers for the child's bootstrap, fetched
		// from the intermediate's parent when a target misses one.
		Binaries []viaBinary
	}
	viaAbandonReq struct{ Start string }
	viaStartResp  struct {
		ID   uint32
		Name string
		Info Info
	}
	viaIDReq     struct{ ID uint32 }
	viaSignalReq struct {
		ID     uint32
		Signal string
	}
	viaSignalResp struct {
		Done        bool // the process had ended (os.ErrProcessDone)
		Unsupported bool // the method cannot signal (errors.ErrUnsupported)
		Msg         string
	}
	viaNone struct{}
	// viaDown answers shutdown: its result, and the process's end as
	// Wait says it (the entry is gone afterwards).
	viaDown struct {
		Shutdown viaExit
		Wait     viaExit
	}
	// viaExit is how a child's process ended, as Wait and Shutdown say.
	viaExit struct {
		Failed    bool   // a non-nil error
		HasStatus bool   // Status (or Signal) is the exit status
		Status    int    // exit status, when Signal is empty
		Signal    string // signal name without "SIG"
		Pid       int
		Msg       string // the error's text
	}
)

// Default limits of the spindle.via service in each context: starts are
// slow (a bootstrap), so more run at once than a service's default.
const (
	DefaultViaConcurrent = 64
	DefaultViaQueued     = 1024
)

// ViaConfig is the pool of the spindle.via service of one context: how
// many starts it runs at once for its ancestors, and how many more wait
// in its queue; a start beyond both fails at once at the origin with an
// error that errors.Is calls.ErrBusy. Zero fields mean the defaults
// (DefaultViaConcurrent, DefaultViaQueued).
type ViaConfig struct {
	MaxConcurrent int
	MaxQueued     int
}

func (c ViaConfig) withDefaults() ViaConfig {
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultViaConcurrent
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = DefaultViaQueued
	}
	return c
}

// viaServedID marks, in a node's process registry, that the node serves
// spindle.via (ServeVia or the default of Main).
const viaServedID = "$spindle.via.served"

// ErrViaServed is returned by ServeVia for a context that serves
// spindle.via already.
var ErrViaServed = errors.New("spawn: this context serves spindle.via already")

// ServeVia makes node serve the spindle.via service (docs/via.md) with
// the pool cfg. Call it from the setup passed to Main to choose a
// context's own pool; Main serves the service with the defaults in every
// child whose setup did not. A second call fails with ErrViaServed. It is
// safe for concurrent use.
func ServeVia(n *actors.Node, cfg ViaConfig) error {
	if _, fresh := n.System().ProcessRegistry.Add(tableProc{}, viaServedID); !fresh {
		return ErrViaServed
	}
	return serveVia(n, cfg.withDefaults())
}

// withVia returns a child's setup: the user's, then the spindle.via service
// on the node's calls endpoint (made with the defaults when setup made
// none), unless setup served it itself (ServeVia).
func withVia(setup func(*actors.Node) error) func(*actors.Node) error {
	return func(n *actors.Node) error {
		if setup != nil {
			if err := setup(n); err != nil {
				return err
			}
		}
		if err := ServeVia(n, ViaConfig{}); err != nil && !errors.Is(err, ErrViaServed) {
			return err
		}
		return nil
	}
}

// maxViaExits bounds the ends of via children kept for a wait that has
// not come yet (the oldest is dropped first).
const maxViaExits = 1024

// viaServer is the intermediate's side: the children it started for its
// ancestors, by ID, and the ends of those that died and were not waited
// for yet (bounded: maxViaExits).
type viaServer struct {
	node  *actors.Node
	ep    *calls.Endpoint
	mu    sync.Mutex
	kids  map[uint32]Child
	exits map[uint32]*viaExit
	order []uint32 // exits, oldest first
	// Starts by the name the origin gave them (viaStartReq.Start): in
	// flight (true once abandoned), and done, until their child is
	// forgotten.
	inflight map[string]bool
	started  map[string]uint32
	names    map[uint32]string
}

func serveVia(n *actors.Node, cfg ViaConfig) error {
	ep := calls.Of(n)
	if ep == nil {
		var err error
		if ep, err = calls.New(n, calls.Config{}); err != nil {
			return fmt.Errorf("spawn: via service: %w", err)
		}
	}
	// Only ancestors may ask (calls.Ancestors, on the verified caller).
	svc, err := calls.NewService(ep, viaService, calls.ServiceConfig{Policy: calls.Ancestors,
		MaxConcurrent: cfg.MaxConcurrent, MaxQueued: cfg.MaxQueued})
	if err != nil {
		return fmt.Errorf("spawn: via service: %w", err)
	}
	if err := registerViaErrors(n, ep); err != nil {
		return err
	}
	if _, err := binStoreOf(n, ep); err != nil {
		return err
	}
	s := &viaServer{node: n, ep: ep, kids: map[uint32]Child{}, exits: map[uint32]*viaExit{},
		inflight: map[string]bool{}, started: map[string]uint32{}, names: map[uint32]string{}}
	for _, err := range []error{
		calls.Method(svc, "start", s.start),
		calls.Method(svc, "wait", s.wait),
		calls.Method(svc, "signal", s.signal),
		calls.Method(svc, "kill", s.kill),
		calls.Method(svc, "shutdown", s.shutdown),
		calls.Method(svc, "abandon", s.abandon),
	} {
		if err != nil {
			return fmt.Errorf("spawn: via service: %w", err)
		}
	}
	return nil
}

func (s *viaServer) start(ctx context.Context, r *viaStartReq) (*viaStartResp, error) {
	start := viaMethod(r.Method)
	if start == nil {
		return nil, fmt.Errorf("spawn: no via method %q registered in context %d", r.Method, s.node.ID())
	}
	if r.Start != "" {
		s.mu.Lock()
		s.inflight[r.Start] = false
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.inflight, r.Start)
			s.mu.Unlock()
		}()
	}
	if len(r.Binaries) > 16 {
		return nil, fmt.Errorf("spawn: via start offers %d binaries, at most 16", len(r.Binaries))
	}
	store, err := binStoreOf(s.node, s.ep)
	if err != nil {
		return nil, err
	}
	ctx = withViaBinaries(ctx, store.binariesFor(r.Binaries))
	c, err := start(withOrigin(ctx, s.ep, r), s.node, r.Opts)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if ctx.Err() != nil || s.inflight[r.Start] { // the asker gave up: it will never hold a handle
		s.mu.Unlock()
		_ = c.Kill()
		return nil, fmt.Errorf("spawn: via start abandoned: %w", context.Canceled)
	}
	s.sweepLocked()
	s.kids[c.ID()] = c
	if r.Start != "" {
		s.started[r.Start], s.names[c.ID()] = c.ID(), r.Start
	}
	s.mu.Unlock()
	return &viaStartResp{ID: c.ID(), Name: c.Name(), Info: c.Info()}, nil
}

func (s *viaServer) kid(id uint32) (Child, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.kids[id]
	if c == nil {
		return nil, fmt.Errorf("spawn: context %d has no via child %d", s.node.ID(), id)
	}
	return c, nil
}

func (s *viaServer) forget(id uint32) {
	s.mu.Lock()
	s.forgetLocked(id)
	s.mu.Unlock()
}

func (s *viaServer) forgetLocked(id uint32) {
	delete(s.kids, id)
	if name, ok := s.names[id]; ok {
		delete(s.started, name)
		delete(s.names, id)
	}
}

// abandon kills the child of a start whose asker gave up after it had
// been answered (or marks the start, still in flight, to kill its child
// when it comes up). A name that is unknown is no error: the start failed.
func (s *viaServer) abandon(_ context.Context, r *viaAbandonReq) (*viaNone, error) {
	s.mu.Lock()
	if _, ok := s.inflight[r.Start]; ok {
		s.inflight[r.Start] = true
	}
	var c Child
	if id, ok := s.started[r.Start]; ok {
		c = s.kids[id]
		s.forgetLocked(id)
	}
	s.mu.Unlock()
	if c != nil {
		_ = c.Kill()
	}
	return &viaNone{}, nil
}

// sweepLocked turns the children that have died and been reaped into
// their ends (a few bytes each, at most maxViaExits), so that a child
// nobody waits for holds no Child here.
func (s *viaServer) sweepLocked() {
	gone, stop := context.WithCancel(context.Background())
	stop()
	for id, c := range s.kids {
		if !isDone(c.Dead()) {
			continue
		}
		werr := c.Wait(gone)
		if errors.Is(werr, context.Canceled) { // not reaped yet: next time
			continue
		}
		s.forgetLocked(id)
		s.exits[id] = exitOf(werr, c.Info().Pid)
		s.order = append(s.order, id)
	}
	for len(s.order) > maxViaExits {
		delete(s.exits, s.order[0])
		s.order = s.order[1:]
	}
}

// exited takes the recorded end of child id.
func (s *viaServer) exited(id uint32) (*viaExit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exits[id]
	delete(s.exits, id) // its order slot goes when it comes first
	return e, ok
}

// wait answers once the child's process has ended; the asker takes the
// answer once, so the entry is dropped.
func (s *viaServer) wait(ctx context.Context, r *viaIDReq) (*viaExit, error) {
	if e, ok := s.exited(r.ID); ok {
		return e, nil
	}
	c, err := s.kid(r.ID)
	if err != nil {
		return nil, err
	}
	werr := c.Wait(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	s.forget(r.ID)
	return exitOf(werr, c.Info().Pid), nil
}

func (s *viaServer) signal(ctx context.Context, r *viaSignalReq) (*viaSignalResp, error) {
	c, err := s.kid(r.ID)
	if err != nil {
		return nil, err
	}
	err = c.Signal(ctx, runner.Signal(r.Signal))
	switch {
	case err == nil:
		return &viaSignalResp{}, nil
	case errors.Is(err, os.ErrProcessDone):
		return &viaSignalResp{Done: true}, nil
	case errors.Is(err, errors.ErrUnsupported):
		return &viaSignalResp{Unsupported: true, Msg: err.Error()}, nil
	}
	return &viaSignalResp{Msg: err.Error()}, nil
}

func (s *viaServer) kill(_ context.Context, r *viaIDReq) (*viaNone, error) {
	c, err := s.kid(r.ID)
	if err != nil {
		return nil, err
	}
	return &viaNone{}, c.Kill()
}

func (s *viaServer) shutdown(ctx context.Context, r *viaIDReq) (*viaDown, error) {
	c, err := s.kid(r.ID)
	if err != nil {
		return nil, err
	}
	err = c.Shutdown(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	werr := c.Wait(ctx) // at once: Shutdown waited for the process
	s.forget(r.ID)
	pid := c.Info().Pid
	return &viaDown{Shutdown: *exitOf(err, pid), Wait: *exitOf(werr, pid)}, nil
}

// exitOf describes a Wait's or Shutdown's error as data.
func exitOf(err error, pid int) *viaExit {
	if err == nil {
		return &viaExit{Pid: pid}
	}
	e := &viaExit{Failed: true, Pid: pid, Msg: err.Error()}
	var ee *exec.ExitError
	var re *RemoteExitError
	switch {
	case errors.As(err, &ee):
		e.HasStatus = true
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = strings.TrimPrefix(signalName(ws.Signal()), "SIG")
		} else {
			e.Status = ee.ExitCode()
		}
	case errors.As(err, &re):
		e.HasStatus, e.Status, e.Signal = true, re.Status, re.Signal
	default:
		if code, ok := ExitStatus(err); ok {
			e.HasStatus, e.Status = true, code
		}
	}
	return e
}

// err rebuilds the error on the asker's side: a *RemoteExitError for an
// exit status (ExitStatus reads it), else the text.
func (e *viaExit) err(info Info) error {
	switch {
	case !e.Failed:
		return nil
	case e.HasStatus:
		host := info.Method
		if info.Host != "" {
			host += " " + info.Host
		}
		return &RemoteExitError{Host: host, Pid: e.Pid, Status: e.Status, Signal: e.Signal}
	}
	return errors.New(e.Msg)
}

// viaErrors are the sentinels a failed start keeps across the hop
// (calls.RegisterError, in both contexts): only the first that matches is
// sent, so the more specific come first (a *BootstrapError whose cause is
// exec.ErrNotFound arrives as exec.ErrNotFound, not as ErrBootstrap).
type namedError struct {
	name string
	err  error
}

var viaErrors = []namedError{
	{"spindle.spawn.ErrViaOption", ErrViaOption},
	{"spindle.spawn.ErrBadTarget", ErrBadTarget},
	{"spindle.spawn.ErrUnknownBinary", ErrUnknownBinary},
	{"spindle.spawn.ErrBinaryDigest", ErrBinaryDigest},
	{"spindle.spawn.ErrBinaryBusy", ErrBinaryBusy},
	{"spindle.spawn.ErrNoCodec", ErrNoCodec},
	{"spindle.spawn.ErrBinaryCacheFull", ErrBinaryCacheFull},
	{"spindle.spawn.ErrNoPrompt", ErrNoPrompt},
	{"spindle.spawn.refused", calls.ErrRefused}, // a prompt asked without its session
	{"spindle.spawn.ErrNoToolchain", ErrNoToolchain},
	{"spindle.spawn.ErrNoSource", ErrNoSource},
	{"spindle.spawn.ErrCannotBuild", ErrCannotBuild},
	{"spindle.spawn.ErrPlatformMismatch", ErrPlatformMismatch},
	{"spindle.spawn.ErrNoShell", ErrNoShell},
	{"spindle.spawn.ErrNoExecDir", ErrNoExecDir},
	{"spindle.spawn.ErrDiskFull", ErrDiskFull},
	{"spindle.spawn.exec.ErrNotFound", exec.ErrNotFound},
	{"spindle.spawn.fs.ErrNotExist", fs.ErrNotExist},
	{"spindle.spawn.fs.ErrPermission", fs.ErrPermission},
	{"spindle.spawn.ErrBootstrapTimeout", ErrBootstrapTimeout},
	{"spindle.spawn.ErrBootstrap", ErrBootstrap},
}

// viaErrorsID marks, in a node's process registry, that viaErrors are
// registered on its endpoint (a context in the middle of a tree both
// serves via starts and asks for them).
const viaErrorsID = "$spindle.via.errors"

// registerViaErrors registers viaErrors on ep, once per node.
func registerViaErrors(n *actors.Node, ep *calls.Endpoint) error {
	if _, fresh := n.System().ProcessRegistry.Add(tableProc{}, viaErrorsID); !fresh {
		return nil
	}
	methodErrors.Lock()
	all := append(append([]namedError(nil), methodErrors.list...), viaErrors...) // the methods' own are more specific
	methodErrors.Unlock()
	for _, e := range all {
		if err := calls.RegisterError(ep, e.name, e.err); err != nil {
			return fmt.Errorf("spawn: via errors: %w", err)
		}
	}
	return nil
}

// methodErrors are the sentinels method packages registered
// (RegisterViaError).
var methodErrors struct {
	sync.Mutex
	list []namedError
}

// RegisterViaError lets a method's sentinel err keep its identity when a
// start through Via fails with it (errors.Is at the origin): call it from
// the method package's init, with a name unique to the package
// ("spindle.ssh.ErrAuthFailed"). A method's sentinels are matched before
// spawn's own (only the first match travels).
func RegisterViaError(name string, err error) {
	methodErrors.Lock()
	defer methodErrors.Unlock()
	methodErrors.list = append(methodErrors.list, namedError{name, err})
}
