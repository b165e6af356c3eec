package sudo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/creack/pty"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Terminal is implemented by targets that can start a command with a
// controlling terminal (a pty) besides its stdio pipes, as su and doas
// need: they read the password from the terminal, while the command's
// stdin and stdout stay clean pipes for the link. Host implements it.
type Terminal interface {
	runner.Target
	// TerminalRunner prepares cmd with a new pty. Without stdinOnTTY the
	// pty is the command's controlling terminal, in a session of its own
	// (doas opens /dev/tty). With stdinOnTTY the pty is its stdin and
	// stderr instead (su reads the password from stdin and prompts on
	// stderr; it needs no controlling terminal, so the command stays in
	// this session), and the runner's Stdin and Stderr are the command's
	// descriptors 3 and 4.
	TerminalRunner(cmd runner.Command, stdinOnTTY bool) (TTYRunner, error)
}

// TTYRunner is a Runner with a terminal: TTY is the pty's controlling
// side, valid after Start and closed by Wait.
type TTYRunner interface {
	runner.Runner
	TTY() *os.File
}

// Host runs commands on this machine, as this process's user or, with
// Credential, as another (which needs root): the inner target that su
// and doas need, and a plain target for Sudo. It is safe for concurrent
// use.
type Host struct {
	// Credential runs commands as this user and group (needs root).
	Credential *syscall.Credential
	// Env is added to this process's environment for each command.
	Env []string
}

var (
	_ runner.Target = (*Host)(nil)
	_ Terminal      = (*Host)(nil)
	_ TTYRunner     = (*hostRunner)(nil)
)

// Info describes this host.
func (h *Host) Info() runner.Info {
	user := ""
	if h.Credential != nil {
		user = strconv.FormatUint(uint64(h.Credential.Uid), 10)
	}
	host, _ := os.Hostname()
	return runner.Info{Method: "local", Host: host, User: user, Caps: runner.Caps{Signal: true, SameHost: true}}
}

// Runner prepares cmd with three pipes, in its own process group.
func (h *Host) Runner(cmd runner.Command) (runner.Runner, error) {
	return h.prepare(cmd, false, false)
}

// TerminalRunner prepares cmd with a new pty (see Terminal).
func (h *Host) TerminalRunner(cmd runner.Command, stdinOnTTY bool) (TTYRunner, error) {
	return h.prepare(cmd, true, stdinOnTTY)
}

func (h *Host) prepare(cmd runner.Command, tty, stdinOnTTY bool) (*hostRunner, error) {
	if len(cmd.Argv) == 0 {
		return nil, errors.New("sudo: empty command")
	}
	c := exec.Command(cmd.Argv[0], cmd.Argv[1:]...)
	c.Env = append(append(os.Environ(), h.Env...), cmd.Env...)
	c.Dir = cmd.Dir
	c.SysProcAttr = sysProcAttr(tty && !stdinOnTTY)
	c.SysProcAttr.Credential = h.Credential
	return &hostRunner{cmd: c, tty: tty, stdinOnTTY: stdinOnTTY}, nil
}

// hostRunner is one command on this host.
type hostRunner struct {
	cmd             *exec.Cmd
	tty, stdinOnTTY bool
	stdin           io.WriteCloser
	stdout, stderr  io.ReadCloser
	master          *os.File
	waitOnce        sync.Once
	waitDone        chan struct{}
	waitErr         error
}

// Start starts the process.
func (r *hostRunner) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var child []*os.File // our copies of the child's ends, closed after start
	defer func() {
		for _, f := range child {
			_ = f.Close()
		}
	}()
	inR, inW, err1 := os.Pipe()
	outR, outW, err2 := os.Pipe()
	errR, errW, err3 := os.Pipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("sudo: pipes: %w", err)
	}
	child = append(child, inR, outW, errW)
	r.stdin, r.stdout, r.stderr = inW, &eofCloser{f: outR}, &eofCloser{f: errR}
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = inR, outW, errW
	if r.tty {
		master, slave, err := pty.Open()
		if err != nil {
			closeAll(inW, outR, errR)
			return fmt.Errorf("sudo: pty: %w", err)
		}
		child = append(child, slave)
		r.master = master
		if r.stdinOnTTY {
			r.cmd.Stdin, r.cmd.Stderr = slave, slave
			r.cmd.ExtraFiles = []*os.File{inR, errW} // descriptors 3 and 4
		} else {
			r.cmd.ExtraFiles = []*os.File{slave} // descriptor 3
			r.cmd.SysProcAttr.Ctty = 3
		}
	}
	if err := r.cmd.Start(); err != nil {
		closeAll(inW, outR, errR, r.master)
		return fmt.Errorf("sudo: start %s: %w", r.cmd.Path, err)
	}
	return nil
}

func closeAll(fs ...io.Closer) {
	for _, f := range fs {
		if f != nil && !isNilFile(f) {
			_ = f.Close()
		}
	}
}

func isNilFile(c io.Closer) bool { f, ok := c.(*os.File); return ok && f == nil }

func (r *hostRunner) Stdin() io.WriteCloser { return r.stdin }
func (r *hostRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *hostRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *hostRunner) TTY() *os.File         { return r.master }
func (r *hostRunner) Caps() runner.Caps     { return runner.Caps{Signal: true, SameHost: true} }
func (r *hostRunner) String() string        { return strings.Join(r.cmd.Args, " ") }

// ID is the process ID.
func (r *hostRunner) ID() string {
	if r.cmd.Process == nil {
		return ""
	}
	return strconv.Itoa(r.cmd.Process.Pid)
}

// Wait reaps the process (once; every call returns the same result) and
// closes the pty.
func (r *hostRunner) Wait(ctx context.Context) error {
	r.waitOnce.Do(func() {
		r.waitDone = make(chan struct{})
		go func() {
			defer close(r.waitDone)
			r.waitErr = exitError(r.cmd.Wait())
			if r.master != nil {
				_ = r.master.Close()
			}
		}()
	})
	select {
	case <-r.waitDone:
		return r.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal signals the process group (a session with a terminal).
func (r *hostRunner) Signal(_ context.Context, sig runner.Signal) error {
	s, ok := signals[sig]
	if !ok {
		return fmt.Errorf("sudo: signal %q: %w", sig, errors.ErrUnsupported)
	}
	if r.cmd.Process == nil {
		return errors.New("sudo: not started")
	}
	if err := syscall.Kill(-r.cmd.Process.Pid, s); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sudo: signal %s: %w", sig, err)
	}
	return nil
}

// Kill sends SIGKILL to the process group; safe to call more than once.
func (r *hostRunner) Kill(ctx context.Context) error { return r.Signal(ctx, runner.SIGKILL) }

var signals = map[runner.Signal]syscall.Signal{
	runner.SIGTERM: syscall.SIGTERM, runner.SIGKILL: syscall.SIGKILL, runner.SIGINT: syscall.SIGINT,
	runner.SIGHUP: syscall.SIGHUP, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT, "QUIT": syscall.SIGQUIT,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

// eofCloser closes its file when a read reaches the end, so a reader that
// drains a stream releases its descriptor without a separate Close.
type eofCloser struct {
	f   *os.File
	eof atomic.Bool
}

func (e *eofCloser) Read(p []byte) (int, error) {
	if e.eof.Load() {
		return 0, io.EOF
	}
	n, err := e.f.Read(p)
	if err == io.EOF {
		e.eof.Store(true)
		_ = e.f.Close()
	}
	return n, err
}

func (e *eofCloser) Close() error {
	if err := e.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// exitError turns what exec.Cmd.Wait returned into a *runner.ExitError
// (128+N and the signal's name for a death by signal N).
func exitError(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &runner.ExitError{Code: 128 + int(ws.Signal()), Signal: signalName(ws.Signal()), Err: err}
	}
	return &runner.ExitError{Code: ee.ExitCode(), Err: err}
}

func signalName(s syscall.Signal) runner.Signal {
	for name, sig := range signals {
		if sig == s {
			return name
		}
	}
	return runner.Signal(strconv.Itoa(int(s)))
}
