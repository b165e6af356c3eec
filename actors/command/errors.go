package command

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
)

// ErrProtocol: the other side sent records this package does not expect.
var ErrProtocol = errors.New("command: protocol error")

// ExitError is the error of a command that ran and did not exit 0: the
// exit status, or the signal that ended it. Use errors.As.
type ExitError struct {
	Context uint32 // where it ran
	Path    string
	Code    int    // exit status; -1 when a signal ended it
	Signal  string // the signal's name ("SIGKILL"), when one did
	Stderr  []byte // Output only: the first 64 KiB of stderr
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("command: %s in context %d: killed by %s", e.Path, e.Context, e.Signal)
	}
	return fmt.Sprintf("command: %s in context %d: exit status %d", e.Path, e.Context, e.Code)
}

// ExitCode returns the exit status, or -1 when a signal ended the command
// (as os.ProcessState.ExitCode).
func (e *ExitError) ExitCode() int { return e.Code }

// StartError is the error of a command that did not start in the other
// context (no such program, not executable, no such directory). It
// matches exec.ErrNotFound and fs.ErrNotExist when the program was not
// found.
type StartError struct {
	Context  uint32
	Path     string
	Msg      string
	NotFound bool
}

func (e *StartError) Error() string {
	return fmt.Sprintf("command: %s did not start in context %d: %s", e.Path, e.Context, e.Msg)
}

// Is matches exec.ErrNotFound and fs.ErrNotExist for a program not found.
func (e *StartError) Is(target error) bool {
	return e.NotFound && (target == exec.ErrNotFound || target == fs.ErrNotExist)
}
