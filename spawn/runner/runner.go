// Package runner is the seam between Spindle's bootstrap and the ways of
// reaching a target: a Runner starts one command somewhere (this host, an
// SSH host, a container, a pod, another user) and exposes its stdio; a
// Target makes Runners. The package holds interfaces and plain data only,
// in the spirit of go-plugin's runner.Runner, and imports the standard
// library alone.
//
// # Usage
//
// A connection method implements Target (and the Runner it returns) and
// asserts both at compile time:
//
//	var _ runner.Target = (*Target)(nil)
//	var _ runner.Runner = (*cmdRunner)(nil)
//
// The bootstrap (spawn/internal/boot) asks the Target for a Runner of
// `sh -c SCRIPT`, starts it, speaks its protocol over Stdin/Stdout, reads
// Stderr for diagnostics, and from then on the same two streams are the
// Spindle link. Wrapping methods (sudo, su, doas) take any Target and
// return a Target whose commands run under the wrapper on the inner one.
//
// The caller's duties: call Start once, before the stream accessors are
// used; always call Wait (or Kill then Wait) so that the runner's
// resources are released.
package runner

import (
	"context"
	"io"
	"strconv"
)

// Command is what to run on a target. Argv[0] is looked up in the target's
// PATH. Env entries ("NAME=value") are added to the target's environment
// where the method can set it (docker exec -e, sudo --preserve-env=...);
// a method that cannot set them fails Runner with an error.
type Command struct {
	Argv []string
	Env  []string
	Dir  string // working directory; "" is the method's default
}

// Caps says what a runner can do beyond stdio.
type Caps struct {
	// Signal: Signal delivers signals to the process (or its group) on the
	// target. Without it, Signal returns ErrUnsupported and the lifecycle
	// relies on the link (SHUTDOWN) and Kill.
	Signal bool
	// PassFDs: the link can carry file descriptors (a unix socketpair to a
	// process on this host).
	PassFDs bool
	// SameHost: the process runs on this host and shares its filesystem,
	// so a binary does not need to travel over the stream.
	SameHost bool
}

// Info describes a target, for the user (logs, Child.Info) and for the
// bootstrap's choices.
type Info struct {
	Method string // "local", "ssh", "docker", "podman", "kubectl", "sudo", "command", ...
	Host   string // host, container or pod the command runs on
	User   string // the user it runs as, where known ("" when the method's default)
	Caps   Caps
}

// Target starts commands somewhere. It is safe for concurrent use: every
// Runner is independent.
type Target interface {
	// Runner prepares cmd; nothing runs until Start.
	Runner(cmd Command) (Runner, error)
	// Info describes the target.
	Info() Info
}

// Signal is a POSIX signal by name without the SIG prefix ("TERM", "KILL",
// "INT", "HUP", "STOP", "CONT"), the form ssh, docker and kill all take.
type Signal string

// Signals used by Spindle's lifecycle.
const (
	SIGTERM Signal = "TERM"
	SIGKILL Signal = "KILL"
	SIGINT  Signal = "INT"
	SIGHUP  Signal = "HUP"
)

// Runner is one command on a target. Start is called once; the stream
// accessors are valid after it. A Runner is safe for concurrent use after
// Start (Signal and Kill may race with Wait).
type Runner interface {
	// Start starts the command. ctx bounds the start only (an authentication
	// dialogue, a container start), not the command's life.
	Start(ctx context.Context) error
	// Stdin, Stdout and Stderr are the command's standard streams.
	Stdin() io.WriteCloser
	Stdout() io.ReadCloser
	Stderr() io.ReadCloser
	// Wait waits for the command to end and returns its exit error: nil for
	// status 0, an error that ExitStatus understands otherwise. ctx only
	// bounds the wait; the command keeps running when ctx ends first. Wait
	// may be called more than once and concurrently: it waits for the same
	// end and returns the same error.
	Wait(ctx context.Context) error
	// Signal sends sig to the command. It returns an error wrapping
	// errors.ErrUnsupported when the method cannot signal.
	Signal(ctx context.Context, sig Signal) error
	// Kill ends the command at once, the most forceful way the method has
	// (SIGKILL to the process group, docker kill, closing the session). It
	// is safe to call more than once, also after the command has ended.
	Kill(ctx context.Context) error
	// ID identifies the command on its target once known (a process ID, a
	// container ID); "" before.
	ID() string
	// String describes the command for logs ("docker exec -i web-1 sh").
	String() string
	// Caps says what this runner can do.
	Caps() Caps
}

// ExitCoder is implemented by exit errors that know the command's exit
// status (the value a shell puts in $?: 128+N for a death by signal N).
type ExitCoder interface {
	error
	ExitCode() int
}

// ExitError is the exit error runners return for a command that ended with
// a status other than 0. Methods may return their own type instead, as
// long as it implements ExitCoder.
type ExitError struct {
	Code   int    // the shell's $?: the status, or 128+N for signal N
	Signal Signal // the signal that ended the command, "" if it exited
	Err    error  // what the method reported, if anything
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "killed by signal " + string(e.Signal)
	}
	return "exit status " + strconv.Itoa(e.Code)
}

// ExitCode returns the shell's $? for the command.
func (e *ExitError) ExitCode() int { return e.Code }

// Unwrap returns what the method reported.
func (e *ExitError) Unwrap() error { return e.Err }
