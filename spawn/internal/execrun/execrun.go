// Package execrun is the runner.Runner of every method that reaches its
// target through a local command: `docker exec -i C`, `kubectl exec -i
// POD --`, `sudo -u U --`, `nsenter -t PID -a`, or nothing at all (a
// command on this host). The command runs in its own process group, with
// its stdio on pipes.
//
// # Usage
//
//	t := &execrun.Target{Prefix: []string{"docker", "exec", "-i", "web-1"},
//		Desc: runner.Info{Method: "docker", Host: "web-1"}}
//	r, _ := t.Runner(runner.Command{Argv: []string{"/bin/sh", "-c", "..."}})
//	_ = r.Start(ctx)
//
// The caller's duties: read Stdout and Stderr to EOF or close them, close
// Stdin, and call Wait or Kill so the process is reaped (the runner reaps
// it by itself in a goroutine; Wait only waits for that).
package execrun

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
	"time"

	"github.com/spindle-go/spindle/spawn/runner"
)

// Target runs commands on this host behind an argv prefix. Its fields are
// read by Runner; do not change them while runners are being made. It is
// safe for concurrent use.
type Target struct {
	// Prefix comes before the command's argv ("docker", "exec", "-i",
	// "web-1"); its first word is looked up in PATH. Empty: the command
	// runs directly.
	Prefix []string
	// Env is added to the local process's environment (DOCKER_HOST,
	// KUBECONFIG); os.Environ() comes first.
	Env []string
	// EnvArgs turns a Command's Env into prefix arguments (docker exec -e
	// NAME=value). Without it a Command with Env fails Runner unless the
	// Prefix is empty (the entries then join the local environment).
	EnvArgs func(env []string) []string
	// Dir is the local process's working directory.
	Dir string
	// Desc describes the target (Info).
	Desc runner.Info
	// Signals: signals sent to the local process group reach the command
	// (no prefix, or a prefix that execs it or relays signals: sudo,
	// nsenter, unshare). False for CLIs that talk to a daemon (docker
	// exec, kubectl exec): Signal then fails with errors.ErrUnsupported,
	// and Kill ends the CLI, which closes the command's stdin.
	Signals bool
	// KillGrace, when positive, makes Kill try SIGTERM first and SIGKILL
	// after this long. Zero: SIGKILL at once.
	KillGrace time.Duration
}

var (
	_ runner.Target = (*Target)(nil)
	_ runner.Runner = (*Runner)(nil)
)

// Info describes the target.
func (t *Target) Info() runner.Info {
	d := t.Desc
	d.Caps.Signal = t.Signals
	return d
}

// Runner prepares cmd behind the prefix.
func (t *Target) Runner(cmd runner.Command) (runner.Runner, error) {
	if len(cmd.Argv) == 0 {
		return nil, errors.New("execrun: empty command")
	}
	argv := append([]string(nil), t.Prefix...)
	env := append(os.Environ(), t.Env...)
	switch {
	case len(cmd.Env) == 0:
	case t.EnvArgs != nil:
		argv = append(argv, t.EnvArgs(cmd.Env)...)
	case len(t.Prefix) == 0:
		env = append(env, cmd.Env...)
	default:
		return nil, fmt.Errorf("execrun: %s cannot set the environment: %w", t.Prefix[0], errors.ErrUnsupported)
	}
	argv = append(argv, cmd.Argv...)
	c := exec.Command(argv[0], argv[1:]...)
	c.Env, c.Dir = env, t.Dir
	if cmd.Dir != "" && len(t.Prefix) == 0 {
		c.Dir = cmd.Dir
	}
	c.SysProcAttr = sysProcAttr()
	return &Runner{cmd: c, caps: t.Info().Caps, killGrace: t.KillGrace, done: make(chan struct{})}, nil
}

// Runner is one local command. It is safe for concurrent use after Start.
type Runner struct {
	cmd       *exec.Cmd
	caps      runner.Caps
	killGrace time.Duration

	stdin          *os.File
	stdout, stderr *os.File
	started        atomic.Bool

	done    chan struct{} // closed when the process has been reaped
	waitErr error         // valid after done
	killMu  sync.Mutex
}

// Start starts the process with its stdio on three pipes.
func (r *Runner) Start(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("execrun: Start called twice")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var parent, child [3]*os.File
	for i := range parent {
		pr, pw, err := os.Pipe()
		if err != nil {
			closeFiles(parent[:]...)
			closeFiles(child[:]...)
			return fmt.Errorf("execrun: pipe: %w", err)
		}
		if i == 0 {
			parent[i], child[i] = pw, pr
			growPipe(pw)
		} else {
			parent[i], child[i] = pr, pw
			growPipe(pw)
		}
	}
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = child[0], child[1], child[2]
	err := r.cmd.Start()
	closeFiles(child[:]...)
	if err != nil {
		closeFiles(parent[:]...)
		close(r.done)
		r.waitErr = err
		return fmt.Errorf("execrun: start %s: %w", r.cmd.Path, err)
	}
	r.stdin, r.stdout, r.stderr = parent[0], parent[1], parent[2]
	go func() {
		r.waitErr = exitError(r.cmd.Wait())
		close(r.done)
	}()
	return nil
}

func closeFiles(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			_ = f.Close()
		}
	}
}

// Stdin returns the write end of the command's stdin.
func (r *Runner) Stdin() io.WriteCloser { return r.stdin }

// Stdout returns the read end of the command's stdout.
func (r *Runner) Stdout() io.ReadCloser { return r.stdout }

// Stderr returns the read end of the command's stderr.
func (r *Runner) Stderr() io.ReadCloser { return r.stderr }

// Wait waits for the process to end: nil for exit status 0, a
// *runner.ExitError otherwise. It may be called more than once.
func (r *Runner) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the process group.
func (r *Runner) Signal(ctx context.Context, sig runner.Signal) error {
	if !r.caps.Signal {
		return fmt.Errorf("execrun: %s: signals do not reach the command: %w", r.String(), errors.ErrUnsupported)
	}
	return r.signal(sig)
}

func (r *Runner) signal(sig runner.Signal) error {
	s, ok := SignalNumber(sig)
	if !ok {
		return fmt.Errorf("execrun: unknown signal %q", sig)
	}
	if !r.started.Load() || r.cmd.Process == nil {
		return errors.New("execrun: not started")
	}
	select {
	case <-r.done:
		return os.ErrProcessDone
	default:
	}
	if err := syscall.Kill(-r.cmd.Process.Pid, s); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("execrun: signal %s to %s: %w", sig, r.String(), err)
	}
	return nil
}

// Kill ends the process group: SIGKILL at once, or SIGTERM first when the
// target has a KillGrace (bounded by it and ctx). It is safe to call more
// than once and after the process has ended.
func (r *Runner) Kill(ctx context.Context) error {
	r.killMu.Lock()
	defer r.killMu.Unlock()
	if !r.started.Load() || r.cmd.Process == nil || isDone(r.done) {
		return nil
	}
	if r.killGrace > 0 {
		_ = r.signal(runner.SIGTERM)
		t := time.NewTimer(r.killGrace)
		defer t.Stop()
		select {
		case <-r.done:
			return nil
		case <-t.C:
		case <-ctx.Done():
		}
	}
	if err := r.signal(runner.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// ID returns the local process ID once started.
func (r *Runner) ID() string {
	if r.cmd.Process == nil {
		return ""
	}
	return strconv.Itoa(r.cmd.Process.Pid)
}

// String describes the command, its first words.
func (r *Runner) String() string {
	args := r.cmd.Args
	if len(args) > 6 {
		args = append(args[:6:6], "...")
	}
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteString(" ")
		}
		if len(a) > 40 {
			a = a[:40] + "..."
		}
		b.WriteString(a)
	}
	return b.String()
}

// Caps says what the runner can do.
func (r *Runner) Caps() runner.Caps { return r.caps }

// exitError turns what exec.Cmd.Wait returned into a *runner.ExitError.
func exitError(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &runner.ExitError{Code: 128 + int(ws.Signal()), Signal: SignalName(ws.Signal()), Err: err}
	}
	return &runner.ExitError{Code: ee.ExitCode(), Err: err}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

var signals = map[runner.Signal]syscall.Signal{
	"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "ABRT": syscall.SIGABRT, "SEGV": syscall.SIGSEGV,
	"PIPE": syscall.SIGPIPE, "ALRM": syscall.SIGALRM,
}

// SignalNumber maps a runner.Signal to this system's number.
func SignalNumber(sig runner.Signal) (syscall.Signal, bool) {
	s, ok := signals[sig]
	return s, ok
}

// SignalName maps a signal number to its runner.Signal name ("" if it has
// none here).
func SignalName(s syscall.Signal) runner.Signal {
	for name, n := range signals {
		if n == s {
			return name
		}
	}
	return runner.Signal(strconv.Itoa(int(s)))
}
