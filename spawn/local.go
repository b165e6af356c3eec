package spawn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/platform"
	"github.com/spindle-go/spindle/spawn/internal/execrun"
	"github.com/spindle-go/spindle/spawn/runner"
)

// LinkKind selects the byte stream between a parent and a local child.
type LinkKind int

const (
	// Pipes joins parent and child with two pipes (the fastest here).
	Pipes LinkKind = iota
	// SocketPair joins them with an AF_UNIX socketpair, which can also
	// carry file descriptors.
	SocketPair
)

func (k LinkKind) String() string {
	if k == SocketPair {
		return "socketpair"
	}
	return "pipes"
}

// Options configures a local child context. The zero value is usable.
// Name (default "local-<pid>"), Grace, LogLevel and Env (added to the
// child's environment) come from the embedded Common, as for every method.
type Options struct {
	Common
	// Link selects pipes (default) or a socketpair.
	Link LinkKind
	// Executable is the binary to run. Default: this program
	// (os.Executable), which must call Main first thing in main.
	Executable string
	// Dir is the child's working directory. Default: the parent's.
	Dir string

	// noPdeathsig leaves Linux's Pdeathsig off, as on darwin and the BSDs,
	// so tests can check that a child exits on its link's EOF alone.
	noPdeathsig bool
}

func (o *Options) setDefaults() error {
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("spawn: find own executable: %w", err)
		}
		o.Executable = exe
	}
	o.Grace = o.grace()
	return nil
}

// Context is a child context running in a local process. Its methods are
// safe for concurrent use.
type Context struct {
	node   *actors.Node
	link   *actors.ChildLink
	cmd    *exec.Cmd
	name   string
	grace  time.Duration
	stderr *stderrForwarder

	exited  chan struct{} // closed when the process has been reaped
	waitErr error         // from cmd.Wait, valid after exited

	hook         hook
	killTimer    *time.Timer // a delayed kill (protocol error), stopped at exit
	timerMu      sync.Mutex
	shutdownOnce sync.Once
	shutdownErr  error

	via *viaChild // set when another context started it (Common.Via)
}

func init() {
	RegisterViaMethod("local", func(ctx context.Context, node *actors.Node, o *Options) (Child, error) {
		return Local(ctx, node, *o)
	})
}

// Local starts a child context in a new process running opts.Executable,
// joins it to node and returns once the handshake is done. With opts.Via
// set, the context named there starts it (docs/via.md): the process runs
// on that context's host as its child, Executable and Dir are paths there,
// and the returned Context's Wait, Signal, Kill and Shutdown go through
// that context.
func Local(ctx context.Context, node *actors.Node, opts Options) (*Context, error) {
	if opts.Via != nil {
		h, err := startVia(ctx, node, opts.Via, "local", &opts, nil)
		if err != nil {
			return nil, err
		}
		return &Context{node: node, name: h.name, via: h}, nil
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	parentEnds, childEnds, spec, err := makeLink(opts.Link)
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:       opts.Executable,
		Args:       []string{filepath.Base(opts.Executable)},
		Dir:        opts.Dir,
		Env:        append(append(os.Environ(), opts.Env...), envChild+"=1", envLink+"="+spec, envLogLevel+"="+opts.LogLevel.String()),
		ExtraFiles: childEnds,
		// Own process group: signals reach it and only it.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if !opts.noPdeathsig {
		platform.SetPdeathsig(cmd.SysProcAttr) // no orphan when the parent is killed (Linux)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		closeAll(parentEnds.closer, childEnds)
		return nil, fmt.Errorf("spawn: stderr pipe: %w", err)
	}
	cmd.Stderr = stderrW
	startErr := cmd.Start()
	closeAll(nil, childEnds)
	_ = stderrW.Close()
	if startErr != nil {
		_ = stderrR.Close()
		_ = parentEnds.closer.Close()
		return nil, fmt.Errorf("spawn: start %s: %w", opts.Executable, startErr)
	}
	name := opts.Name
	if name == "" {
		name = fmt.Sprintf("local-%d", cmd.Process.Pid)
	}
	c := &Context{node: node, cmd: cmd, name: name, grace: opts.Grace, exited: make(chan struct{})}
	c.stderr = forwardStderr(stderrR, node.Logger(), "child", name, "pid", cmd.Process.Pid)
	go c.reap()
	t := actors.Transport{R: parentEnds.r, W: parentEnds.w, C: parentEnds.closer, Reason: c.exitReason}
	c.link, err = node.AttachChild(ctx, name, t)
	if err != nil {
		c.kill()
		<-c.exited
		c.stderr.wait()
		if tail := c.stderr.tail(); tail != "" {
			err = fmt.Errorf("%w; child stderr:\n%s", err, tail)
		}
		return nil, fmt.Errorf("spawn: %s: %w", name, err)
	}
	c.stderr.setLogger(node.Logger(), "child", name, "child_id", c.link.ID, "pid", cmd.Process.Pid)
	node.Annotate(c.link.ID, actors.Annotation{Method: "local"}) // for introspection (how it was started)
	c.hook.remove = registerHook(node, c.Shutdown)
	go func() { // a child that dies by itself releases its hook too
		<-c.link.Done()
		<-c.exited
		c.hook.release()
	}()
	return c, nil
}

type linkEnds struct {
	r      interface{ Read([]byte) (int, error) }
	w      interface{ Write([]byte) (int, error) }
	closer interface{ Close() error }
}

// makeLink creates the parent's and the child's ends of a link.
func makeLink(kind LinkKind) (parent linkEnds, child []*os.File, spec string, err error) {
	switch kind {
	case SocketPair:
		pfd, cfd, err := platform.Socketpair()
		if err != nil {
			return parent, nil, "", fmt.Errorf("spawn: socketpair: %w", err)
		}
		pf := os.NewFile(uintptr(pfd), "spindle-link")
		conn, err := net.FileConn(pf)
		_ = pf.Close()
		cf := os.NewFile(uintptr(cfd), "spindle-link-child")
		if err != nil {
			_ = cf.Close()
			return parent, nil, "", fmt.Errorf("spawn: socketpair: %w", err)
		}
		return linkEnds{conn, conn, conn}, []*os.File{cf}, "sock:3", nil
	default:
		toChildR, toChildW, err := os.Pipe()
		if err != nil {
			return parent, nil, "", fmt.Errorf("spawn: pipe: %w", err)
		}
		fromChildR, fromChildW, err := os.Pipe()
		if err != nil {
			_, _ = toChildR.Close(), toChildW.Close()
			return parent, nil, "", fmt.Errorf("spawn: pipe: %w", err)
		}
		for _, f := range []*os.File{toChildW, fromChildW} {
			growPipe(f)
		}
		return linkEnds{fromChildR, toChildW, closers{fromChildR, toChildW}},
			[]*os.File{toChildR, fromChildW}, "pipe:3,4", nil
	}
}

func closeAll(c interface{ Close() error }, files []*os.File) {
	if c != nil {
		_ = c.Close()
	}
	for _, f := range files {
		_ = f.Close()
	}
}

func (c *Context) reap() {
	c.waitErr = c.cmd.Wait()
	c.timerMu.Lock()
	close(c.exited)
	if c.killTimer != nil {
		c.killTimer.Stop()
	}
	c.timerMu.Unlock()
}

// killAfter kills the child after d unless it exits first (the timer is
// stopped when it is reaped).
func (c *Context) killAfter(d time.Duration) {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if isDone(c.exited) || c.killTimer != nil {
		return
	}
	c.killTimer = time.AfterFunc(d, c.kill)
}

// exitReason turns the error that ended the link into the child's exit
// status when the process is gone (it usually is, when its end of the link
// reached EOF). A protocol error or a heartbeat timeout stays the reason: it
// is the cause. A child whose link is gone is declared dead, so a process
// still running is killed: at once when it is silent (stopped, hung), after
// the grace period when it broke the protocol (it exits by itself on EOF).
// A dead context never comes back.
func (c *Context) exitReason(linkErr error) error {
	if errors.Is(linkErr, actors.ErrHeartbeatTimeout) {
		c.kill()
		return linkErr
	}
	var pe *actors.ProtocolError
	if errors.As(linkErr, &pe) {
		c.killAfter(c.grace)
		return linkErr
	}
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		c.kill()
		return linkErr
	}
	return &ExitError{Name: c.name, Pid: c.cmd.Process.Pid, State: c.cmd.ProcessState}
}

// ExitError is the IS_DEAD reason of a local child whose process ended.
type ExitError struct {
	Name  string
	Pid   int
	State *os.ProcessState
}

func (e *ExitError) Error() string {
	ws, ok := e.State.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return fmt.Sprintf("process %d killed by signal %s (exit status %d)", e.Pid, signalName(ws.Signal()), 128+int(ws.Signal()))
	}
	return fmt.Sprintf("process %d exited: exit status %d", e.Pid, e.State.ExitCode())
}

// ExitCode returns the shell's $? for the process: its exit status, or
// 128+N for a death by signal N (runner.ExitCoder, ExitStatus).
func (e *ExitError) ExitCode() int {
	code, _ := waitCode(e.State.Sys())
	return code
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return s.String()
}

// ID returns the child's context ID.
func (c *Context) ID() uint32 {
	if c.via != nil {
		return c.via.ID()
	}
	return c.link.ID
}

// Name returns the child's name.
func (c *Context) Name() string { return c.name }

// Pid returns the child's operating-system process ID.
func (c *Context) Pid() int {
	if c.via != nil {
		return c.via.info.Pid
	}
	return c.cmd.Process.Pid
}

// Address returns the child's protoactor address.
func (c *Context) Address() string { return actors.Address(c.ID()) }

// Spawn starts an actor of a kind registered in the child (Node.RegisterKind)
// and returns its PID. An empty name lets the child choose one.
func (c *Context) Spawn(ctx context.Context, kind, name string) (*actor.PID, error) {
	return c.node.SpawnRemote(ctx, c.ID(), kind, name)
}

// Dead is closed when the child's link is gone and IS_DEAD has been raised
// for everything behind it.
func (c *Context) Dead() <-chan struct{} {
	if c.via != nil {
		return c.via.Dead()
	}
	return c.link.Done()
}

// DeadReason returns why the link ended (for example an *ExitError);
// nil while it is up.
func (c *Context) DeadReason() error {
	if c.via != nil {
		return c.via.DeadReason()
	}
	return c.link.Err()
}

// Wait waits for the process to exit and returns its *exec.ExitError, or nil
// for exit status 0.
//
// For a child started through Via, the error of a failed process is a
// *RemoteExitError (ExitStatus reads both).
func (c *Context) Wait(ctx context.Context) error {
	if c.via != nil {
		return c.via.Wait(ctx)
	}
	select {
	case <-c.exited:
		return c.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Info describes the child: method "local", this host, the current user
// and the child's process ID.
func (c *Context) Info() Info {
	if c.via != nil {
		return c.via.Info()
	}
	u := ""
	if cur, err := user.Current(); err == nil {
		u = cur.Username
	}
	return Info{Method: "local", User: u, Pid: c.cmd.Process.Pid}
}

// Signal sends sig to the child's process group; os.ErrProcessDone once
// the process has ended.
func (c *Context) Signal(ctx context.Context, sig runner.Signal) error {
	if c.via != nil {
		return c.via.Signal(ctx, sig)
	}
	n, ok := execrun.SignalNumber(sig)
	if !ok {
		return fmt.Errorf("spawn: unknown signal %q", sig)
	}
	return c.signal(n)
}

func (c *Context) signal(sig syscall.Signal) error {
	if isDone(c.exited) {
		return os.ErrProcessDone
	}
	return syscall.Kill(-c.cmd.Process.Pid, sig)
}

func (c *Context) kill() { _ = c.signal(syscall.SIGKILL) }

// Kill sends SIGKILL to the child's process group. It is safe to call more
// than once; after the process is gone it returns nil.
func (c *Context) Kill() error {
	if c.via != nil {
		return c.via.Kill()
	}
	if err := c.signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("spawn: kill %s: %w", c.name, err)
	}
	return nil
}

// Shutdown stops the child: it asks the context to stop (it shuts down its
// own children first), then sends SIGTERM and finally SIGKILL, each after
// the grace period (the ladder every method shares), and waits for the
// process and its link to go. It is safe to call more than once; later
// calls return the first result: nil when the child stopped as asked or
// by our signal, ctx's error, or the *exec.ExitError of a child that
// failed by itself.
func (c *Context) Shutdown(ctx context.Context) error {
	if c.via != nil {
		return c.via.Shutdown(ctx)
	}
	c.shutdownOnce.Do(func() { c.shutdownErr = c.shutdown(ctx) })
	return c.shutdownErr
}

func (c *Context) shutdown(ctx context.Context) error {
	c.hook.release()
	err := ladder(ctx, c.grace, c.exited,
		func() { _ = c.node.RequestShutdown(c.link.ID) },
		func() { _ = c.signal(syscall.SIGTERM) },
		c.kill)
	if !isDone(c.exited) {
		c.kill() // SIGKILL cannot be refused
		<-c.exited
	}
	<-c.link.Done()
	c.link.Close()
	c.stderr.wait()
	if err != nil {
		return err
	}
	var ee *exec.ExitError
	if errors.As(c.waitErr, &ee) && !ee.Exited() {
		return nil // stopped by our own signal
	}
	return c.waitErr
}
