package sudo

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/spindle-go/spindle/spawn/runner"
)

// failWait bounds how long a failed start waits for the tool to exit after
// it was told to stop (stdin closed) or killed.
const failWait = 5 * time.Second

// base is what the three runners share: the inner runner, the stdout
// after the marker, a Wait that may be called more than once.
type base struct {
	inner  runner.Runner
	method string
	user   string
	auth   *Auth
	marker string

	stdout io.ReadCloser // after the marker
	stderr io.ReadCloser // set by the runner once the command runs

	stdinOnce sync.Once
	stdin     *closeOnce // the inner stdin, closed once whoever asks

	waitOnce sync.Once
	waitDone chan struct{}
	waitErr  error
}

// watchMarker starts reading the inner stdout up to the marker; the
// channel reports the outcome once.
func (b *base) watchMarker() <-chan error {
	ch := make(chan error, 1)
	br := bufio.NewReaderSize(b.inner.Stdout(), 4096)
	b.stdout = readCloser{Reader: br, Closer: b.inner.Stdout()}
	go readMarker(br, b.marker, b.auth.logger(), ch)
	return ch
}

// started is called once the command runs: when the tool ends, the
// command's stdin is closed. A tool killed by someone else (kill -9 on
// sudo) leaves its command running as the target user, beyond our
// signals, still holding the link; with its stdin ended, a Spindle child
// sees the link end and exits, and the parent raises IS_DEAD with the
// tool's exit status. After a normal end the close changes nothing.
// Then after, if set, runs (releasing what the runner holds). The
// goroutine ends with the tool.
func (b *base) started(after func()) {
	go func() {
		_ = b.Wait(context.Background())
		_ = b.Stdin().Close()
		if after != nil {
			after()
		}
	}()
}

// fail ends a start that did not reach the command: kill the tool, wait
// for it (bounded), and describe what happened.
func (b *base) fail(prompts int, err error, tail func() string) error {
	code := -1
	ctx, cancel := context.WithTimeout(context.Background(), failWait)
	defer cancel()
	if errors.Is(err, ErrBadPassword) || errors.Is(err, ErrRefused) {
		// The tool is ending by itself; give it a moment to say why.
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		werr := b.Wait(wctx)
		wcancel()
		if werr == nil || !errors.Is(werr, context.DeadlineExceeded) {
			code = exitCode(werr)
		}
	}
	_ = b.inner.Kill(ctx)
	if werr := b.Wait(ctx); code < 0 && !errors.Is(err, ErrAuthTimeout) && !errors.Is(err, ErrPasswordRequired) && !errors.Is(err, ErrBadPassword) {
		code = exitCode(werr)
	}
	b.auth.logger().Debug("sudo: start failed", "method", b.method, "user", b.user, "prompts", prompts, "reason", err)
	return &AuthError{Method: b.method, User: b.user, Prompts: prompts, ExitCode: code, Stderr: tail(), Err: err}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec runner.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}

// Stdin is the command's stdin (the tool's, which passes it on). Its
// Close may be called more than once and concurrently (by the caller, by
// Kill, and when the tool ends): only the first reaches the inner stream,
// which need not allow more (an SSH session's does not).
func (b *base) Stdin() io.WriteCloser {
	b.stdinOnce.Do(func() { b.stdin = &closeOnce{WriteCloser: b.inner.Stdin()} })
	return b.stdin
}

// closeOnce passes Close on once.
type closeOnce struct {
	io.WriteCloser
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.WriteCloser.Close() })
	return c.err
}

// Stdout is the command's stdout after the marker line.
func (b *base) Stdout() io.ReadCloser { return b.stdout }

// Stderr is the tool's and then the command's stderr, without prompts.
func (b *base) Stderr() io.ReadCloser {
	if b.stderr != nil {
		return b.stderr
	}
	return b.inner.Stderr()
}

// Wait waits for the tool to end. It may be called more than once and
// concurrently; every call returns the same result.
func (b *base) Wait(ctx context.Context) error {
	b.waitOnce.Do(func() {
		b.waitDone = make(chan struct{})
		go func() {
			defer close(b.waitDone)
			b.waitErr = b.inner.Wait(context.Background())
		}()
	})
	select {
	case <-b.waitDone:
		return b.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the tool, which relays it to the command (sudo
// relays TERM, HUP, INT, QUIT, USR1, USR2; su and doas end with it).
func (b *base) Signal(ctx context.Context, sig runner.Signal) error {
	return b.inner.Signal(ctx, sig)
}

// Kill ends the tool at once and closes the command's stdin: a command
// that outlives a killed tool (it runs as another user, beyond our
// signals) sees its stdin end.
func (b *base) Kill(ctx context.Context) error {
	err := b.inner.Kill(ctx)
	_ = b.Stdin().Close()
	return err
}

// SetPID passes the command's process ID, which the bootstrap reports, to
// an inner runner that uses it (boot.PIDSetter).
func (b *base) SetPID(pid int) {
	if s, ok := b.inner.(interface{ SetPID(int) }); ok {
		s.SetPID(pid)
	}
}

func (b *base) ID() string        { return b.inner.ID() }
func (b *base) String() string    { return b.method + " -u " + b.user + " (" + b.inner.String() + ")" }
func (b *base) Caps() runner.Caps { c := b.inner.Caps(); c.PassFDs = false; return c }
