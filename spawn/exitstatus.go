package spawn

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"github.com/spindle-go/spindle/spawn/runner"
)

// ExitStatus returns the exit status a child's process ended with, as a
// shell's $? (128+N for a death by signal N), from any error a child or a
// runner reports: nil (status 0), a local *exec.ExitError, a local
// *ExitError, a *RemoteExitError of any bootstrapped method, and every
// runner.ExitCoder. ok is false when err does not carry an exit status (a
// heartbeat timeout, a lost connection, a protocol error). Supervision
// uses it to tell a clean exit 0 from a failure.
func ExitStatus(err error) (code int, ok bool) {
	if err == nil {
		return 0, true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return waitCode(ee.Sys())
	}
	var ec runner.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode(), true
	}
	return 0, false
}

func waitCode(sys any) (int, bool) {
	ws, ok := sys.(syscall.WaitStatus)
	if !ok {
		return 0, false
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), true
	}
	return ws.ExitStatus(), true
}

// signalNumbers are the numbers POSIX systems agree on, for exit statuses
// of remote processes reported by signal name.
var signalNumbers = map[runner.Signal]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "FPE": 8, "KILL": 9,
	"SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15,
}

// RemoteExitError is the IS_DEAD reason of a bootstrapped child (SSH,
// command, kubectl, docker, sudo) whose process ended.
type RemoteExitError struct {
	Host   string
	Pid    int
	Status int    // exit status (when Signal is empty)
	Signal string // signal name without "SIG" as the server reported it
}

func (e *RemoteExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("remote process %d on %s killed by signal %s", e.Pid, e.Host, e.Signal)
	}
	return fmt.Sprintf("remote process %d on %s exited: exit status %d", e.Pid, e.Host, e.Status)
}

// ExitCode returns the shell's $? for the remote process: its exit
// status, or 128+N for a death by signal N (runner.ExitCoder, ExitStatus).
func (e *RemoteExitError) ExitCode() int {
	if e.Signal == "" {
		return e.Status
	}
	if n, ok := signalNumbers[runner.Signal(e.Signal)]; ok {
		return 128 + n
	}
	return 128
}
