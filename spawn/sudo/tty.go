package sudo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spindle-go/spindle/spawn/runner"
)

// echoPoll is how often the terminal's echo flag is read while a tool may
// be asking for a password.
const echoPoll = 2 * time.Millisecond

// TTYTarget runs commands through su or doas on a target that provides a
// terminal. It is safe for concurrent use; every Runner is independent.
type TTYTarget struct {
	inner  Terminal
	method string
	user   string
	login  bool
	auth   Auth
}

var (
	_ runner.Target = (*TTYTarget)(nil)
	_ runner.Runner = (*ttyRunner)(nil)
)

// Su returns a target that runs each command on inner through
// `su USER -c SCRIPT`. su reads the password from its stdin, which is a
// new pty; the command's stdin, stdout and stderr are pipes passed on as
// descriptors 3 and 4 and moved into place by SCRIPT, so the link never
// crosses the terminal. A prompt is recognised by the terminal's echo
// being turned off, never by its text. The target user's login shell must
// read POSIX single quotes (sh, bash, dash, ksh, zsh).
func Su(inner runner.Target, opts SuOptions) (*TTYTarget, error) {
	return newTTY(inner, "su", opts.User, opts.Login, opts.Auth)
}

// Doas returns a target that runs each command on inner through
// `doas -u USER -- sh -c ...`. doas reads the password from its
// controlling terminal, a new pty; its stdio stay pipes. A prompt is
// recognised by the terminal's echo being turned off.
func Doas(inner runner.Target, opts DoasOptions) (*TTYTarget, error) {
	return newTTY(inner, "doas", opts.User, false, opts.Auth)
}

func newTTY(inner runner.Target, method, user string, login bool, auth Auth) (*TTYTarget, error) {
	if inner == nil {
		return nil, errors.New("sudo: nil inner target")
	}
	term, ok := inner.(Terminal)
	if !ok {
		return nil, fmt.Errorf("%w (%s over %s)", ErrNoTerminal, method, inner.Info().Method)
	}
	if err := checkUser(method, user); err != nil {
		return nil, err
	}
	auth.Path = orDefault(auth.Path, method)
	return &TTYTarget{inner: term, method: method, user: orDefault(user, "root"), login: login, auth: auth}, nil
}

// Info describes the target: method "su" or "doas", the inner host, the
// target user.
func (t *TTYTarget) Info() runner.Info {
	in := t.inner.Info()
	return runner.Info{Method: t.method, Host: in.Host, User: t.user,
		Caps: runner.Caps{Signal: in.Caps.Signal, SameHost: in.Caps.SameHost}}
}

// Runner prepares cmd under su or doas.
func (t *TTYTarget) Runner(cmd runner.Command) (runner.Runner, error) {
	if len(cmd.Argv) == 0 {
		return nil, errors.New("sudo: empty command")
	}
	marker := markerPrefix + token()
	var argv []string
	if t.method == "su" {
		argv = []string{t.auth.Path, "-c", suScript(cmd, marker)}
		if t.login {
			argv = append(argv, "-l")
		}
		argv = append(argv, "--", t.user)
	} else {
		argv = append([]string{t.auth.Path, "-u", t.user, "--"}, shellArgv(cmd, marker)...)
	}
	inner, err := t.inner.TerminalRunner(runner.Command{Argv: argv}, t.method == "su")
	if err != nil {
		return nil, fmt.Errorf("sudo: %s: %w", t.method, err)
	}
	return &ttyRunner{base: base{inner: inner, method: t.method, user: t.user, auth: &t.auth, marker: marker},
		tty: inner, stderrOnTTY: t.method == "su"}, nil
}

// suScript is the command su hands to the target user's shell: move the
// link's descriptors into place, print the marker, run the command.
func suScript(cmd runner.Command, marker string) string {
	var b strings.Builder
	b.WriteString("exec 0<&3 2>&4 3<&- 4<&- && printf '%s\\n' " + shq(marker))
	if cmd.Dir != "" {
		b.WriteString(" && cd " + shq(cmd.Dir))
	}
	b.WriteString(" && exec")
	if len(cmd.Env) > 0 {
		b.WriteString(" env")
		for _, e := range cmd.Env {
			b.WriteString(" " + shq(e))
		}
	}
	for _, a := range cmd.Argv {
		b.WriteString(" " + shq(a))
	}
	return b.String()
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ttyRunner is one command under su or doas.
type ttyRunner struct {
	base
	tty         TTYRunner
	stderrOnTTY bool // su: the tool's own stderr is the terminal

	drained chan struct{}
	mu      sync.Mutex
	ttyOut  []byte // what the tool wrote to the terminal (bounded)
}

// Start starts the tool and returns once the command runs or
// authentication failed.
func (r *ttyRunner) Start(ctx context.Context) error {
	if err := r.tty.Start(ctx); err != nil {
		return fmt.Errorf("sudo: %s: %w", r.method, err)
	}
	r.drained = make(chan struct{})
	go r.drain(r.tty.TTY())
	prompts := make(chan struct{}, 4)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go watchEcho(r.tty.TTY(), prompts, stop, stopped)
	d := &dialogue{method: r.method, user: r.user, auth: r.auth, prompts: prompts,
		marker: r.watchMarker(), exitAfterPassword: ErrBadPassword,
		answer: func(line []byte) error { _, err := r.tty.TTY().Write(line); return err }}
	n, err := d.run(ctx)
	close(stop)
	<-stopped
	if err == nil {
		r.started(nil)
		return nil
	}
	return r.fail(n, err, r.tail)
}

// drain reads what the tool writes to the terminal (its prompt, and for
// su its messages) until the terminal closes; echo is off while the
// password is typed, so it never holds the password.
func (r *ttyRunner) drain(f *os.File) {
	defer close(r.drained)
	buf := make([]byte, 1024)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			r.mu.Lock()
			if len(r.ttyOut) < maxNoiseBytes {
				r.ttyOut = append(r.ttyOut, buf[:n]...)
			}
			r.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// tail is what the tool printed, for errors: the terminal (su), or its
// stderr once it has ended (doas).
func (r *ttyRunner) tail() string {
	select {
	case <-r.drained:
	case <-time.After(time.Second):
	}
	r.mu.Lock()
	out := strings.ReplaceAll(string(r.ttyOut), "\r", "")
	r.mu.Unlock()
	if !r.stderrOnTTY {
		out += "\n" + readBounded(r.tty.Stderr(), 4096, time.Second)
	}
	return lastLines(out, 5)
}

// readBounded reads up to n bytes of rc until EOF or d has passed, then
// closes it (which ends a read still waiting: something else may hold the
// pipe open).
func readBounded(rc io.ReadCloser, n int64, d time.Duration) string {
	ch := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(rc, n))
		ch <- b
	}()
	select {
	case b := <-ch:
		return string(b)
	case <-time.After(d):
		_ = rc.Close()
		return string(<-ch)
	}
}

// watchEcho reports a prompt each time the terminal's echo goes from on
// to off: a tool about to read a password turns it off, whatever language
// its prompt is in. It ends when stop is closed or the terminal fails.
func watchEcho(f *os.File, prompts chan<- struct{}, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(echoPoll)
	defer t.Stop()
	wasOff := false
	for {
		off, err := echoOff(f)
		if err != nil {
			return
		}
		if off && !wasOff {
			select {
			case prompts <- struct{}{}:
			default:
			}
		}
		wasOff = off
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// echoOff reads the terminal's echo flag through the pty's controlling
// side, which shares the terminal's settings.
func echoOff(f *os.File) (bool, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var t *unix.Termios
	var ierr error
	if err := sc.Control(func(fd uintptr) { t, ierr = unix.IoctlGetTermios(int(fd), ioctlGetTermios) }); err != nil {
		return false, err
	}
	if ierr != nil {
		return false, ierr
	}
	return t.Lflag&unix.ECHO == 0, nil
}
