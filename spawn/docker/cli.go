package docker

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spindle-go/spindle/internal/platform"
	"github.com/spindle-go/spindle/spawn/internal/execrun"
	"github.com/spindle-go/spindle/spawn/runner"
)

// cliWaitAfterKill bounds how long Kill waits for the CLI to exit on its
// own once the process in the container is dead, before it kills the CLI.
const cliWaitAfterKill = 3 * time.Second

// cliRunner is one `docker exec -i` or `docker run -i --rm` CLI process:
// the shared local-command runner (execrun: own process group, Pdeathsig,
// stdio on pipes) with this package's Signal, Kill, exit statuses and
// description.
type cliRunner struct {
	*execrun.Runner
	t         *Target
	argv      []string // after the CLI's path
	desc      string
	container string // the container's name or ID
	fresh     bool   // docker run: the container is this command's own
	token     string // SPINDLE_RUNNER value of this command's processes

	pidMu sync.Mutex
	pid   int // in the container, once the bootstrap said it

	done    chan struct{} // closed when the CLI has exited
	waitErr error         // valid after done
}

var (
	_ runner.Runner = (*cliRunner)(nil)
	_ pidSetter     = (*cliRunner)(nil)
)

// pidSetter is boot.PIDSetter, restated so that the runner does not need
// the bootstrap's package.
type pidSetter interface{ SetPID(pid int) }

// newCLIRunner prepares the CLI process of r.argv.
func (t *Target) newCLIRunner(r *cliRunner) error {
	et := &execrun.Target{Desc: t.Info()}
	er, err := et.Runner(runner.Command{Argv: append([]string{t.path}, r.argv...)})
	if err != nil {
		return err
	}
	r.Runner = er.(*execrun.Runner)
	return nil
}

// Start starts the CLI. ctx is not used past Start: the container start
// itself is bounded by the bootstrap's deadline, which kills the runner.
func (r *cliRunner) Start(ctx context.Context) error {
	if err := r.Runner.Start(ctx); err != nil {
		r.waitErr = &Error{CLI: r.t.method(), Op: r.op(), Target: r.container, Err: ErrCLINotFound, Cause: err}
		close(r.done)
		return r.waitErr
	}
	go func() {
		r.waitErr = r.exitErr(r.Runner.Wait(context.Background()))
		close(r.done)
	}()
	return nil
}

func (r *cliRunner) op() string {
	if r.fresh {
		return "run"
	}
	return "exec"
}

// exitErr turns the CLI's exit into a *runner.ExitError wrapping an
// *ExitError (nil for status 0). The CLIs pass on 128+N when the command
// died by signal N (docker kill, the OOM killer): that is reported as the
// signal, as a shell would.
func (r *cliRunner) exitErr(err error) error {
	var ee *runner.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	e := &ExitError{CLI: r.t.method(), Op: r.op(), Container: r.container, Code: ee.Code}
	out := &runner.ExitError{Code: ee.Code, Signal: ee.Signal, Err: e}
	if ee.Signal != "" { // the CLI itself was killed
		e.CLISignal = string(ee.Signal)
	} else if ee.Code > 128 && ee.Code < 160 {
		out.Signal = execrun.SignalName(syscall.Signal(ee.Code - 128))
	}
	return out
}

// Wait waits for the CLI to exit and returns nil or a *runner.ExitError.
// It may be called more than once.
func (r *cliRunner) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *cliRunner) Caps() runner.Caps { return caps }
func (r *cliRunner) String() string    { return r.desc }

// ID returns the container, and the process ID in it once the bootstrap
// reported one ("web-1/42").
func (r *cliRunner) ID() string {
	r.pidMu.Lock()
	defer r.pidMu.Unlock()
	if r.pid > 0 {
		return r.container + "/" + strconv.Itoa(r.pid)
	}
	return r.container
}

// SetPID records the command's process ID in the container.
func (r *cliRunner) SetPID(pid int) {
	r.pidMu.Lock()
	r.pid = pid
	r.pidMu.Unlock()
}

// Signal sends sig to the command in the container: `docker kill -s` for a
// fresh container (the command is its pid 1), else kill(1) inside the
// container, run by `docker exec`, on every process carrying this
// runner's token (the command and its descendants).
func (r *cliRunner) Signal(ctx context.Context, sig runner.Signal) error {
	if !validSignal(sig) {
		return fmt.Errorf("docker: bad signal %q", sig)
	}
	if r.fresh {
		return r.t.control(ctx, "kill", "-s", string(sig), r.container)
	}
	return r.t.control(ctx, "exec", "-u", "0", r.container, "sh", "-c", killScript, "sh", string(sig), envToken+"="+r.token)
}

// killScript sends signal $1 to every process whose environment holds $2,
// all at once. For KILL it stops them first, so that no parent sees a
// child die and exits on its own, with another status, meanwhile.
const killScript = `l=; for p in /proc/[0-9]*; do ` +
	`if tr "\000" "\n" <"$p/environ" 2>/dev/null | grep -qxF "$2"; then l="$l ${p#/proc/}"; fi; ` +
	`done; [ -z "$l" ] && exit 0; ` +
	`if [ "$1" = KILL ]; then kill -s STOP $l 2>/dev/null; fi; kill -s "$1" $l 2>/dev/null; exit 0`

func validSignal(sig runner.Signal) bool {
	if sig == "" || len(sig) > 8 {
		return false
	}
	for _, c := range sig {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Kill ends the command: SIGKILL in the container (docker kill for a
// fresh container, then rm -f), then, if the CLI has not exited within
// cliWaitAfterKill, the CLI itself. It is safe to call more than once and
// after the command has ended.
func (r *cliRunner) Kill(ctx context.Context) error {
	if r.Runner.ID() == "" { // never started
		return nil
	}
	if isDone(r.done) && !r.fresh {
		return nil
	}
	sigErr := r.Signal(ctx, runner.SIGKILL)
	if r.fresh {
		_ = r.t.control(ctx, "rm", "-f", r.container)
	}
	t := time.NewTimer(cliWaitAfterKill)
	defer t.Stop()
	select {
	case <-r.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := r.Runner.Kill(ctx); err != nil { // the CLI's process group
		return err
	}
	select {
	case <-r.done:
		return sigErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// control runs a short CLI command against the engine (kill, rm, inspect)
// and returns an error with its output when it fails.
func (t *Target) control(ctx context.Context, args ...string) error {
	_, err := t.output(ctx, args...)
	return err
}

func (t *Target) output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, t.path, append(append([]string(nil), t.global...), args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	platform.SetPdeathsig(cmd.SysProcAttr)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", &CLIError{CLI: t.method(), Args: args, Code: ee.ExitCode(), Stderr: string(ee.Stderr)}
		}
		return "", err
	}
	return string(out), nil
}
