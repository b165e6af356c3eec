package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/wire"
)

// handlerName is the stream handler of commands.
const handlerName = "spindle.command"

// DefaultKillGrace is how long a cancelled command's process group has
// between SIGTERM and SIGKILL.
const DefaultKillGrace = 2 * time.Second

// Config configures a Runner. Zero values mean the documented defaults.
type Config struct {
	// Allow says which contexts may run commands in this one. Running a
	// command is privileged: nil means ancestors only; transfer.Anyone
	// widens it to every context.
	Allow transfer.Policy
	// KillGrace is the time between SIGTERM and SIGKILL when a command is
	// cancelled, and how long the output of a command that exited may stay
	// open (a background process holding it) before its process group is
	// killed. Default DefaultKillGrace.
	KillGrace time.Duration
	// Logger; default the node's.
	Logger *slog.Logger
}

// Runner runs commands in other contexts and serves the commands others
// run here. Make one per node with [New] in Config.Setup, after the
// node's Transfer. It is safe for concurrent use.
type Runner struct {
	t   *transfer.Transfer
	cfg Config
	log *slog.Logger
}

// New makes the Runner of t's node and registers its stream handler
// ("spindle.command"). Call it once per node, in Config.Setup, in every
// context that runs commands or asks others to.
func New(t *transfer.Transfer, cfg Config) (*Runner, error) {
	if cfg.KillGrace == 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.KillGrace < 0 {
		return nil, fmt.Errorf("command: negative KillGrace %v", cfg.KillGrace)
	}
	if cfg.Logger == nil {
		cfg.Logger = t.Node().Logger()
	}
	r := &Runner{t: t, cfg: cfg, log: cfg.Logger}
	if err := t.Handle(handlerName, r.serve, cfg.Allow); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	return r, nil
}

// Cmd is a command to run in another context, as exec.Cmd is one to run
// here.
type Cmd struct {
	// Path is the program: a name looked up in the PATH of the context
	// that runs it, or a path there.
	Path string
	// Args are the arguments after the program's name.
	Args []string
	// Env is the environment, "KEY=value" each; nil means that of the
	// context that runs it.
	Env []string
	// Dir is the working directory; empty means that of the context.
	Dir string
	// Stdin, if set, is read until EOF and fed to the command's stdin
	// (otherwise the command reads EOF). Run does not wait for a Read of
	// Stdin that blocks after the command ended.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output as it comes, on the
	// goroutine that called Run; nil discards it.
	Stdout, Stderr io.Writer
}

// Run runs c in context target and returns when it has ended. Its exit
// status is the error: nil for 0, a *ExitError otherwise (errors.As); a
// command that could not start is a *StartError. When ctx is done, the
// command's process group gets SIGTERM, then SIGKILL after the target's
// KillGrace, and Run returns an error wrapping ctx's; the same happens
// when this context dies or shuts down, and when the target shuts down
// (Run then fails with transfer.ErrShutdown or the target's
// *actors.DeadError).
func (r *Runner) Run(ctx context.Context, target uint32, c Cmd) error {
	if c.Path == "" {
		return errors.New("command: Run: empty Path")
	}
	req := request{Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir}
	body, err := wire.Marshal(&req)
	if err != nil {
		return err
	}
	if len(body) > maxRequest {
		return fmt.Errorf("command: Run: the command line and environment take %d bytes, at most %d", len(body), maxRequest)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := r.t.Open(ctx, target, handlerName)
	if err != nil {
		return fmt.Errorf("command: %s in context %d: %w", c.Path, target, err)
	}
	defer s.Close()
	if err := writeRecord(s, recRequest, body); err != nil {
		return fmt.Errorf("command: %s in context %d: %w", c.Path, target, err)
	}
	if c.Stdin == nil {
		_ = s.CloseWrite()
	} else {
		go feed(s, c.Stdin) // ends with the stream at the latest
	}
	return r.collect(s, target, c)
}

// feed sends r as stdin records, then CloseWrite.
func feed(s *transfer.Stream, r io.Reader) {
	buf := make([]byte, outPiece)
	for {
		n, err := r.Read(buf)
		if n > 0 && writeRecord(s, recStdin, buf[:n]) != nil {
			return
		}
		if err != nil {
			_ = s.CloseWrite()
			return
		}
	}
}

// collect copies output records to c's writers until the exit record.
func (r *Runner) collect(s *transfer.Stream, target uint32, c Cmd) error {
	fail := func(err error) error { return fmt.Errorf("command: %s in context %d: %w", c.Path, target, err) }
	buf := make([]byte, outPiece)
	for {
		typ, b, err := readRecord(s, buf, maxRecord)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: the output ended without an exit status", ErrProtocol)
			}
			return fail(err)
		}
		buf = b[:0]
		switch typ {
		case recStdout, recStderr:
			w := c.Stdout
			if typ == recStderr {
				w = c.Stderr
			}
			if w != nil {
				if _, err := w.Write(b); err != nil {
					return fail(fmt.Errorf("writing its output: %w", err))
				}
			}
		case recExit:
			var e exitRecord
			if err := wire.Unmarshal(b, &e); err != nil {
				return fail(fmt.Errorf("%w: exit record: %v", ErrProtocol, err))
			}
			if e.Code == 0 && e.Signal == "" {
				return nil
			}
			return &ExitError{Context: target, Path: c.Path, Code: e.Code, Signal: e.Signal}
		case recStartFailed:
			var e startRecord
			if err := wire.Unmarshal(b, &e); err != nil {
				return fail(fmt.Errorf("%w: start record: %v", ErrProtocol, err))
			}
			return &StartError{Context: target, Path: c.Path, Msg: e.Err, NotFound: e.NotFound}
		default:
			return fail(fmt.Errorf("%w: record type %d", ErrProtocol, typ))
		}
	}
}

// Output runs name with args in context target and returns its stdout.
// On a non-zero exit the error is a *ExitError whose Stderr holds the
// first 64 KiB of the command's stderr, and the output so far is returned
// with it.
func (r *Runner) Output(ctx context.Context, target uint32, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	errOut := &capped{max: 64 << 10}
	err := r.Run(ctx, target, Cmd{Path: name, Args: args, Stdout: &out, Stderr: errOut})
	var ee *ExitError
	if errors.As(err, &ee) {
		ee.Stderr = errOut.b
	}
	return out.Bytes(), err
}

// capped keeps the first max bytes written to it.
type capped struct {
	b   []byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.b = append(c.b, p[:min(len(p), c.max-len(c.b))]...)
	return len(p), nil
}
