package docker

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels of this package; the typed errors below match them with
// errors.Is. Failures of the bootstrap itself (a container without a
// shell, no cache directory that allows exec) are spawn's sentinels
// (spawn.ErrNoShell, spawn.ErrNoExecDir), which an *Error also matches.
var (
	// ErrCLINotFound: the docker or podman CLI is not installed (the
	// *Error also matches exec.ErrNotFound).
	ErrCLINotFound = errors.New("docker: container CLI not found")
	// ErrEngineUnavailable: the CLI runs but its engine does not answer
	// (daemon stopped, bad DOCKER_HOST, unknown context).
	ErrEngineUnavailable = errors.New("docker: container engine unavailable")
	// ErrNoSuchContainer: the container to exec into does not exist.
	ErrNoSuchContainer = errors.New("docker: no such container")
	// ErrContainerNotRunning: the container exists but is not running.
	ErrContainerNotRunning = errors.New("docker: container is not running")
	// ErrImageNotFound: the image is not present locally (it is never
	// pulled).
	ErrImageNotFound = errors.New("docker: image not found locally")
)

// Error is a failure to start a command in a container, classified.
type Error struct {
	CLI    string // "docker" or "podman"
	Op     string // "lookup", "exec", "run"
	Target string // the container or image
	Err    error  // one of this package's sentinels
	Cause  error  // what failed underneath (the bootstrap's error, exec's)
}

func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Target != "" {
		s += ": " + e.Target
	}
	if e.CLI != "" && e.CLI != "docker" {
		s += " (" + e.CLI + ")"
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// ExitError is the end of a CLI process with a non-zero status: the
// status of the command in the container, which the CLI passes on (137
// for SIGKILL, 143 for SIGTERM), or 125-127 for the CLI's own failures.
type ExitError struct {
	CLI, Op   string
	Container string
	Code      int    // the exit status, as a shell's $? shows it
	CLISignal string // set when the CLI process itself died by a signal
}

func (e *ExitError) Error() string {
	if e.CLISignal != "" {
		return fmt.Sprintf("docker: %s %s in %s: the CLI was killed (%s)", e.CLI, e.Op, e.Container, e.CLISignal)
	}
	return fmt.Sprintf("docker: %s %s in %s: exit status %d", e.CLI, e.Op, e.Container, e.Code)
}

// ExitCode returns the exit status (runner.ExitCoder).
func (e *ExitError) ExitCode() int { return e.Code }

// CLIError is a short CLI command (kill, inspect, rm) that failed.
type CLIError struct {
	CLI    string
	Args   []string
	Code   int
	Stderr string
}

func (e *CLIError) Error() string {
	return fmt.Sprintf("docker: %s %s: exit status %d: %s", e.CLI, strings.Join(e.Args, " "), e.Code, strings.TrimSpace(e.Stderr))
}
