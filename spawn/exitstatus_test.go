package spawn_test

import (
	"errors"
	"fmt"
	"os/exec"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
)

func TestExitStatus(t *testing.T) {
	exited := exec.Command("sh", "-c", "exit 3").Run()
	killed := exec.Command("sh", "-c", "kill -9 $$").Run()
	for _, tc := range []struct {
		name string
		err  error
		code int
		ok   bool
	}{
		{"nil is a clean exit", nil, 0, true},
		{"local exit status", exited, 3, true},
		{"local death by signal", killed, 137, true},
		{"wrapped", fmt.Errorf("outer: %w", exited), 3, true},
		{"runner exit", &runner.ExitError{Code: 5}, 5, true},
		{"runner signal", &runner.ExitError{Code: 143, Signal: runner.SIGTERM}, 143, true},
		{"remote exit 0", &spawn.RemoteExitError{Host: "h", Pid: 1}, 0, true},
		{"remote exit 2", &spawn.RemoteExitError{Host: "h", Pid: 1, Status: 2}, 2, true},
		{"remote KILL", &spawn.RemoteExitError{Host: "h", Pid: 1, Signal: "KILL"}, 137, true},
		{"heartbeat timeout", fmt.Errorf("x: %w", actors.ErrHeartbeatTimeout), 0, false},
		{"other", errors.New("connection reset"), 0, false},
	} {
		code, ok := spawn.ExitStatus(tc.err)
		if code != tc.code || ok != tc.ok {
			t.Errorf("%s: ExitStatus(%v) = %d, %v; want %d, %v", tc.name, tc.err, code, ok, tc.code, tc.ok)
		}
	}
}

func TestExitStatus_LocalDeathReason(t *testing.T) {
	root := newRoot(t, nil)
	c, _ := startChild(t, root, "victim", spawn.Pipes)
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.Dead()
	var ee *spawn.ExitError
	if code, ok := spawn.ExitStatus(c.DeadReason()); !ok || code != 137 || !errors.As(c.DeadReason(), &ee) {
		t.Fatalf("reason %v: ExitStatus = %d, %v; want a *spawn.ExitError with 137", c.DeadReason(), code, ok)
	}
}
