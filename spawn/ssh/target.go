package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/spindle-go/spindle/spawn/internal/boot"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Timings of a session's end.
const (
	// exitGrace is how long Wait waits, when a session ended without an
	// exit status, for the connection's own error.
	exitGrace = 250 * time.Millisecond
	// killCloseAfter is how long Kill waits for the process to go before
	// it closes the session (or the connection it owns).
	killCloseAfter = time.Second
)

// Target is one SSH connection as a runner.Target: each Runner is a
// session. It is safe for concurrent use.
type Target struct {
	conn    *sshConn
	st      sshTarget
	log     *slog.Logger
	owned   bool // close the connection when the first session ends
	connect time.Duration

	connDone chan struct{} // the connection is gone
	connErr  error         // why, valid after connDone
}

var (
	_ runner.Target  = (*Target)(nil)
	_ runner.Runner  = (*session)(nil)
	_ boot.PIDSetter = (*session)(nil)
)

func newTarget(conn *sshConn, st sshTarget, log *slog.Logger, owned bool, connect time.Duration) *Target {
	t := &Target{conn: conn, st: st, log: log, owned: owned, connect: connect, connDone: make(chan struct{})}
	go func() {
		t.connErr = conn.client.Wait()
		close(t.connDone)
	}()
	return t
}

// Info describes the target: method "ssh", host user@host:port.
func (t *Target) Info() runner.Info {
	return runner.Info{Method: "ssh", Host: t.st.String(), User: t.st.User, Caps: runner.Caps{Signal: true}}
}

// Close closes the connection and every session on it.
func (t *Target) Close() error { return t.conn.Close() }

// Runner prepares a session running cmd through the login shell (argv
// quoted by boot.ShellLine). Command.Env is not supported (sshd accepts
// only what its AcceptEnv allows); the bootstrap passes the child's
// environment as arguments instead.
func (t *Target) Runner(cmd runner.Command) (runner.Runner, error) {
	if len(cmd.Argv) == 0 {
		return nil, errors.New("spawn/ssh: empty command")
	}
	if len(cmd.Env) > 0 || cmd.Dir != "" {
		return nil, fmt.Errorf("spawn/ssh: Command.Env and Dir: %w", errors.ErrUnsupported)
	}
	return &session{t: t, line: boot.ShellLine(cmd.Argv), done: make(chan struct{})}, nil
}

// session is one command on the connection.
type session struct {
	t    *Target
	line string
	sess *ssh.Session

	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr io.ReadCloser
	pid    atomic.Int64

	done    chan struct{} // Wait returned
	waitErr error         // valid after done
	killMu  sync.Mutex
}

// Start opens the session and starts the command.
func (s *session) Start(ctx context.Context) error {
	sess, err := s.t.conn.client.NewSession()
	if err != nil {
		return fmt.Errorf("spawn/ssh: new session: %w", err)
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	stderr, err3 := sess.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		_ = sess.Close()
		return fmt.Errorf("spawn/ssh: session: %w", err)
	}
	if err := sess.Start(s.line); err != nil {
		_ = sess.Close()
		return fmt.Errorf("spawn/ssh: start: %w", err)
	}
	s.sess, s.stdout, s.stderr = sess, io.NopCloser(stdout), io.NopCloser(stderr)
	s.stdin = &sessionStdin{w: stdin, sess: sess}
	go s.reap()
	return nil
}

func (s *session) reap() {
	err := s.sess.Wait()
	s.waitErr = s.exitError(err)
	close(s.done)
	if s.t.owned {
		_ = s.t.conn.Close()
	}
}

// exitError turns what Session.Wait returned into a *runner.ExitError,
// or a *ConnectionLostError when the session ended without a status.
func (s *session) exitError(err error) error {
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.Signal() != "":
		code := 128
		if n, ok := signalNumbers[ee.Signal()]; ok {
			code += n
		}
		return &runner.ExitError{Code: code, Signal: runner.Signal(ee.Signal()), Err: err}
	case errors.As(err, &ee):
		return &runner.ExitError{Code: ee.ExitStatus(), Err: err}
	}
	why := err
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-s.t.connDone:
		if s.t.connErr != nil {
			why = s.t.connErr
		}
	case <-t.C:
	}
	return &ConnectionLostError{Host: s.t.st.String(), Err: why}
}

var signalNumbers = map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ABRT": 6, "KILL": 9, "SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15}

func (s *session) Stdin() io.WriteCloser { return s.stdin }
func (s *session) Stdout() io.ReadCloser { return s.stdout }
func (s *session) Stderr() io.ReadCloser { return s.stderr }
func (s *session) Caps() runner.Caps     { return runner.Caps{Signal: true} }
func (s *session) String() string        { return "ssh " + s.t.st.String() }

// SetPID records the process group the bootstrap reported, for kill(1).
func (s *session) SetPID(pid int) { s.pid.Store(int64(pid)) }

// ID returns the remote process ID once the bootstrap reported it.
func (s *session) ID() string {
	if p := s.pid.Load(); p > 0 {
		return strconv.FormatInt(p, 10)
	}
	return ""
}

// Wait waits for the session to end.
func (s *session) Wait(ctx context.Context) error {
	select {
	case <-s.done:
		return s.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the remote process group. OpenSSH (7.9 and later)
// delivers signal requests except for root logins, which run without
// privilege separation; when the server refuses, Signal runs kill(1) on
// the process group through a second session (bounded by ctx; without an
// answer in time, the connection is closed if the target owns it).
func (s *session) Signal(ctx context.Context, sig runner.Signal) error {
	if isDone(s.done) {
		return os.ErrProcessDone
	}
	answered := make(chan bool, 1)
	go func() {
		ok, err := s.sess.SendRequest("signal", true, ssh.Marshal(&struct{ Signal string }{string(sig)}))
		answered <- err == nil && ok
	}()
	select {
	case ok := <-answered:
		if ok {
			return nil
		}
	case <-ctx.Done():
		return s.giveUp(ctx.Err())
	}
	if isDone(s.done) {
		return os.ErrProcessDone
	}
	pid := int(s.pid.Load())
	if pid <= 0 {
		return errors.New("spawn/ssh: the server refused the signal and the remote process ID is unknown")
	}
	if err := s.killGroup(ctx, pid, sig); err != nil && !isDone(s.done) {
		return err
	}
	return nil
}

// killGroup sends sig to the remote process group pid (sshd starts each
// session with setsid, so the bootstrap leads one) with kill(1) in a new
// session.
func (s *session) killGroup(ctx context.Context, pid int, sig runner.Signal) error {
	p := strconv.Itoa(pid)
	script := "kill -s " + string(sig) + " -- -" + p + " 2>/dev/null || kill -s " + string(sig) + " " + p
	done := make(chan error, 1)
	go func() {
		sess, err := s.t.conn.client.NewSession()
		if err != nil {
			done <- err
			return
		}
		defer sess.Close()
		done <- sess.Run(boot.ShellLine([]string{"/bin/sh", "-c", script}))
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = s.giveUp(ctx.Err())
		<-done
	}
	if err != nil {
		return fmt.Errorf("spawn/ssh: signal %s to process group %d on %s: %w", sig, pid, s.t.st.String(), err)
	}
	return nil
}

// giveUp closes what stands between us and an unreachable process: the
// connection when this target owns it, else the session.
func (s *session) giveUp(why error) error {
	if s.t.owned {
		_ = s.t.conn.Close()
	} else {
		_ = s.sess.Close()
	}
	return fmt.Errorf("spawn/ssh: no answer from %s: %w", s.t.st.String(), why)
}

// Kill sends SIGKILL to the remote process group and, if the process has
// not gone a second later (a dead network, a server that cannot signal),
// closes the session (the connection when the target owns it), so the
// command always ends on our side. Safe to call more than once.
func (s *session) Kill(ctx context.Context) error {
	s.killMu.Lock()
	defer s.killMu.Unlock()
	if s.sess == nil || isDone(s.done) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, killCloseAfter)
	defer cancel()
	_ = s.Signal(ctx, runner.SIGKILL)
	select {
	case <-s.done:
	case <-ctx.Done():
		_ = s.giveUp(ctx.Err())
	}
	return nil
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
