package spawn

import (
	"errors"
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
