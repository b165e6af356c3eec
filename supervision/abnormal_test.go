package supervision

import (
	"errors"
	"fmt"
	"os/exec"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// Every method's exit error is read through spawn.ExitStatus: an SSH (or
// any bootstrapped) context that exits 0 is a normal exit, so a Transient
// child is not restarted after it. Before, only the local *spawn.ExitError
// was understood and a clean remote exit counted as a failure.
func TestAbnormal_ExitStatusOfEveryMethod(t *testing.T) {
	ok := exec.Command("true").Run()
	failed := exec.Command("false").Run()
	var exitErr *exec.ExitError
	if ok != nil || !errors.As(failed, &exitErr) {
		t.Fatalf("true: %v, false: %v", ok, failed)
	}
	cases := []struct {
		name     string
		reason   error
		abnormal bool
	}{
		{"link closed without a reason", nil, true},
		{"remote exit 0", &spawn.RemoteExitError{Host: "h", Pid: 7}, false},
		{"remote exit 0, wrapped", fmt.Errorf("child: %w", &spawn.RemoteExitError{Host: "h", Pid: 7}), false},
		{"remote exit 3", &spawn.RemoteExitError{Host: "h", Pid: 7, Status: 3}, true},
		{"remote SIGKILL", &spawn.RemoteExitError{Host: "h", Pid: 7, Signal: "KILL"}, true},
		{"local exit 1", &spawn.ExitError{Pid: 7, State: exitErr.ProcessState}, true},
		{"heartbeat timeout", &actors.HeartbeatError{}, true},
		{"protocol error", &actors.ProtocolError{Err: errors.New("garbage")}, true},
	}
	for _, c := range cases {
		if got := abnormal(c.reason); got != c.abnormal {
			t.Errorf("%s: abnormal(%v) = %v, want %v", c.name, c.reason, got, c.abnormal)
		}
	}
}
