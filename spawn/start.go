package spawn

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn/internal/boot"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Timings of a bootstrapped child's link.
const (
	// exitGrace is how long the link waits, after the child closed it, for
	// the exit status that follows.
	exitGrace = 250 * time.Millisecond
	// deadKillTimeout bounds the kill of a child whose link was declared
	// dead, which delays IS_DEAD by as much when the target is unreachable.
	deadKillTimeout = 300 * time.Millisecond
	// killTimeout bounds a Kill's work (a runner that must reach the
	// target to kill).
	killTimeout = 3 * time.Second
)

// Start is the seam for connection methods: it runs the bootstrap through
// t (docs/bootstrap.md: probe, cache, upload on the same stream, verify,
// install, exec), joins the child to node and returns once the handshake
// is done. Everything is bounded by ctx and b.Timeout; on failure nothing
// is left running and the error matches one of the Err* sentinels of this
// package where one applies. Each method package (spawn/ssh,
// spawn/command, spawn/kube, spawn/docker, spawn/sudo) wraps it.
//
// With c.Via set, the context named there runs the start (docs/via.md,
// "Targets as data"): t must be a ViaTarget (a command, docker or kube
// target, sudo.Host, a sudo, su or doas wrapper over one of them), which
// travels as its description and is rebuilt there; its callbacks (sudo's
// password) stay here and are asked from there; Bootstrap.Binaries are
// offered by content address as for every via start.
func Start(ctx context.Context, node *actors.Node, t runner.Target, c Common, b Bootstrap) (*Process, error) {
	if c.Via != nil {
		return startTargetVia(ctx, node, t, c, b)
	}
	timeout, start := b.timeout(), time.Now()
	ti := t.Info()
	desc := describe(ti)
	name := c.Name
	if name == "" {
		name = ti.Method + "-" + ti.Host
	}
	log := node.Logger().With("child", name, "target", desc)
	p := &Process{node: node, name: name, grace: c.grace(), target: ti, desc: desc, exited: make(chan struct{})}
	begin := time.Now()
	if via := viaBinariesOf(ctx); len(via) > 0 { // a start for an ancestor (docs/via.md)
		b.Binaries = append(append([]*Binary(nil), b.Binaries...), via...)
	}
	build := b.source()
	if build == nil { // the origin's Builder, when it offered one (docs/via.md)
		build = viaBuildSource(ctx, node)
	}
	proc, err := boot.Start(ctx, t, boot.Options{
		Host: desc, Shell: b.Shell, LogLevel: c.LogLevel.String(), Env: c.Env,
		CacheDirs: b.CacheDirs, Binaries: b.Binaries, Build: build, Logger: log, Timeout: timeout,
		Progress: b.Progress, Cache: b.Cache, Flights: flightsOf(node),
		Stderr: func(r io.ReadCloser) boot.Tail {
			p.stderr = forwardStderr(r, log)
			return bootTail{p.stderr}
		},
	})
	if err != nil {
		return nil, err
	}
	// The handshake has what is left of Timeout; a build on demand does
	// not count.
	ctx, cancel := context.WithDeadline(ctx, start.Add(timeout+proc.Info.Build))
	defer cancel()
	p.run, p.boot = proc.Runner, proc.Info
	go p.reap()
	begin = time.Now()
	r := &eofReader{r: proc.Link}
	tr := actors.Transport{R: r, W: proc.Stdin, C: &procCloser{p: p, r: r}, Reason: p.deathReason,
		Isolated: !c.AllowSiblings} // a trust boundary: no sibling traffic unless asked for
	link, err := node.AttachChild(ctx, name, tr)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		p.killWait()
		return nil, &BootstrapError{Host: desc, Stage: "handshake", Err: err, Stderr: p.stderr.tail()}
	}
	p.link, p.handshake = link, time.Since(begin)
	node.Annotate(link.ID, actors.Annotation{Method: ti.Method}) // for introspection (how it was started)
	p.stderr.setLogger(log, "child_id", link.ID, "pid", p.boot.Pid)
	p.hook.remove = registerHook(node, p.Shutdown)
	p.wg.Add(1)
	go func() { // a child that dies by itself releases its hook too
		defer p.wg.Done()
		<-link.Done()
		<-p.exited
		p.hook.release()
	}()
	log.Debug("context up", "id", link.ID, "platform", p.boot.Platform, "pid", p.boot.Pid,
		"cache_hit", p.boot.CacheHit, "uploaded", p.boot.Uploaded, "bootstrap", p.boot.Bootstrap, "handshake", p.handshake)
	return p, nil
}

// uploadFlights holds each node's boot.Flights: the starts a node runs at
// once to one host share one upload of the binary (docs/via.md, "Fan-out").
var uploadFlights sync.Map // *actors.Node -> *boot.Flights

func flightsOf(node *actors.Node) *boot.Flights {
	if f, ok := uploadFlights.Load(node); ok {
		return f.(*boot.Flights)
	}
	f, loaded := uploadFlights.LoadOrStore(node, new(boot.Flights))
	if !loaded {
		node.OnShutdown(func(context.Context) error {
			uploadFlights.Delete(node)
			return nil
		})
	}
	return f.(*boot.Flights)
}

// describe names a target for messages: "docker web-1", "ssh u@h:22".
func describe(i runner.Info) string {
	s := i.Method
	if i.Host != "" {
		s += " " + i.Host
	}
	if i.User != "" {
		s += " as " + i.User
	}
	return s
}

// bootTail lets the bootstrap quote the forwarded stderr.
type bootTail struct{ f *stderrForwarder }

func (s bootTail) Tail() string { return s.f.tail() }
func (s bootTail) Wait()        { s.f.wait() }

// Process is a child context started through a runner.Target by the
// bootstrap (spawn.Start): an SSH host, a container, a pod, another user,
// any command prefix. Its methods are safe for concurrent use.
type Process struct {
	node      *actors.Node
	link      *actors.ChildLink
	run       runner.Runner
	name      string
	grace     time.Duration
	target    runner.Info
	desc      string
	boot      boot.Info
	handshake time.Duration
	stderr    *stderrForwarder

	exited  chan struct{} // the runner's Wait returned
	exitErr error         // valid after exited

	hook         hook
	wg           sync.WaitGroup // goroutines Shutdown waits for
	killing      atomic.Bool
	shutdownOnce sync.Once
	shutdownErr  error

	via *viaChild // set when another context started it (StartVia)
}

var _ Child = (*Process)(nil)

func (p *Process) reap() {
	p.exitErr = p.run.Wait(context.Background())
	close(p.exited)
}

// killWait kills the command and waits for it and its stderr (a failed
// start).
func (p *Process) killWait() {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	_ = p.run.Kill(ctx)
	_ = p.run.Stdin().Close()
	select {
	case <-p.exited:
	case <-ctx.Done():
	}
	_ = p.run.Stdout().Close()
	p.stderr.wait()
}

// ID returns the child's context ID.
func (p *Process) ID() uint32 {
	if p.via != nil {
		return p.via.ID()
	}
	return p.link.ID
}

// Name returns the child's name.
func (p *Process) Name() string { return p.name }

// Address returns the child's protoactor address.
func (p *Process) Address() string { return actors.Address(p.ID()) }

// Info describes the child: method, host, user, its process ID on the
// target, and how the bootstrap went.
func (p *Process) Info() Info {
	if p.via != nil {
		return p.via.Info()
	}
	return Info{Method: p.target.Method, Host: p.target.Host, User: p.target.User, Pid: p.boot.Pid,
		Boot: BootstrapInfo{Host: p.desc, Platform: p.boot.Platform, Pid: p.boot.Pid, Dir: p.boot.Dir,
			CacheHit: p.boot.CacheHit, Codec: p.boot.Codec, Uploaded: p.boot.Uploaded, DigestTool: p.boot.DigestTool,
			Bootstrap: p.boot.Bootstrap, Upload: p.boot.Upload, Handshake: p.handshake,
			Build: p.boot.Build, Built: p.boot.Built, Shared: p.boot.Shared}}
}

// Spawn starts an actor of a kind registered in the child and returns its
// PID. An empty name lets the child choose one.
func (p *Process) Spawn(ctx context.Context, kind, name string) (*actor.PID, error) {
	return p.node.SpawnRemote(ctx, p.ID(), kind, name)
}

// Dead is closed when the child's link is gone and IS_DEAD has been raised
// for everything behind it.
func (p *Process) Dead() <-chan struct{} {
	if p.via != nil {
		return p.via.Dead()
	}
	return p.link.Done()
}

// DeadReason returns why the link ended (a *RemoteExitError, a heartbeat
// timeout, a protocol error, a method's own error); nil while it is up.
func (p *Process) DeadReason() error {
	if p.via != nil {
		return p.via.DeadReason()
	}
	return p.link.Err()
}

// Wait waits for the child's command to end: nil for exit status 0, a
// *RemoteExitError for another status, or the method's error (a lost
// connection).
func (p *Process) Wait(ctx context.Context) error {
	if p.via != nil {
		return p.via.Wait(ctx)
	}
	select {
	case <-p.exited:
		if p.exitErr == nil {
			return nil
		}
		return p.exitReason()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the child's process (group) on the target, where
// the method can (runner.Caps.Signal); otherwise the error wraps
// errors.ErrUnsupported. os.ErrProcessDone once the process has ended.
func (p *Process) Signal(ctx context.Context, sig runner.Signal) error {
	if p.via != nil {
		return p.via.Signal(ctx, sig)
	}
	if isDone(p.exited) {
		return os.ErrProcessDone
	}
	return p.run.Signal(ctx, sig)
}

// Kill ends the child at once, the most forceful way its method has
// (runner.Runner.Kill). It returns at once and is safe to call more than
// once.
func (p *Process) Kill() error {
	if p.via != nil {
		return p.via.Kill()
	}
	if isDone(p.exited) || !p.killing.CompareAndSwap(false, true) {
		return nil
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.killing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
		defer cancel()
		_ = p.run.Kill(ctx)
	}()
	return nil
}

// Shutdown stops the child: SHUTDOWN over the link, then SIGTERM (where
// the method can signal; otherwise that step is skipped), then Kill, each
// after the grace period, and
// waits for the process, its link and everything Process started. It is
// safe to call more than once; later calls return the first result: nil
// when the child stopped as asked, ctx's error, or the *RemoteExitError of
// a child that failed by itself.
func (p *Process) Shutdown(ctx context.Context) error {
	if p.via != nil {
		return p.via.Shutdown(ctx)
	}
	p.shutdownOnce.Do(func() { p.shutdownErr = p.shutdown(ctx) })
	return p.shutdownErr
}

func (p *Process) shutdown(ctx context.Context) error {
	p.hook.release()
	steps := []func(){func() { _ = p.node.RequestShutdown(p.link.ID) }}
	if p.run.Caps().Signal { // else SIGTERM cannot reach it: Kill after one grace period
		steps = append(steps, func() { _ = p.Signal(ctx, runner.SIGTERM) })
	}
	steps = append(steps, func() { _ = p.runKill() })
	err := ladder(ctx, p.grace, p.exited, steps...)
	if !isDone(p.exited) {
		_ = p.runKill()
		<-p.exited
	}
	<-p.link.Done()
	p.link.Close()
	p.wg.Wait()
	p.stderr.wait()
	if err != nil {
		return err
	}
	var ee *runner.ExitError
	if p.exitErr == nil || (errors.As(p.exitErr, &ee) && ee.Signal != "") {
		return nil // exit status 0, or stopped by a signal (ours)
	}
	return p.exitReason()
}

func (p *Process) runKill() error {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	return p.run.Kill(ctx)
}

// deathReason turns the error that ended the link into the child's exit
// status when its command ended (it usually has, when the link reached
// EOF). Other errors (protocol errors, heartbeat timeouts) stay the
// reason: they are the cause.
func (p *Process) deathReason(linkErr error) error {
	if !isEOFish(linkErr) {
		return linkErr
	}
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		return linkErr
	}
	if p.exitErr == nil {
		return &RemoteExitError{Host: p.desc, Pid: p.boot.Pid}
	}
	return p.exitReason()
}

// exitReason describes the command's end; valid after exited.
func (p *Process) exitReason() error {
	var ee *runner.ExitError
	if errors.As(p.exitErr, &ee) {
		return &RemoteExitError{Host: p.desc, Pid: p.boot.Pid, Status: ee.Code, Signal: string(ee.Signal)}
	}
	var ec runner.ExitCoder
	if errors.As(p.exitErr, &ec) {
		return &RemoteExitError{Host: p.desc, Pid: p.boot.Pid, Status: ec.ExitCode()}
	}
	return p.exitErr
}

// procCloser closes a bootstrapped child's link. When the child closed it
// (it is exiting), the streams stay open a moment so that its exit status
// arrives. Otherwise (a heartbeat timeout, a protocol error, our own
// close) the command, if it still runs, is killed first: a stopped or hung
// process must not outlive its link. That attempt is bounded
// (deadKillTimeout).
type procCloser struct {
	p    *Process
	r    *eofReader
	once sync.Once
}

func (c *procCloser) Close() error {
	c.once.Do(func() {
		p := c.p
		t := time.NewTimer(exitGrace)
		defer t.Stop()
		switch {
		case c.r.eof.Load():
			select {
			case <-p.exited:
			case <-t.C:
			}
		case !isDone(p.exited):
			ctx, cancel := context.WithTimeout(context.Background(), deadKillTimeout)
			_ = p.run.Kill(ctx)
			cancel()
		}
		_ = p.run.Stdin().Close()
		_ = p.run.Stdout().Close()
	})
	return nil
}
