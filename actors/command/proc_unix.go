//go:build unix

package command

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/spindle-go/spindle/internal/platform"
)

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// setGroup starts cmd as the leader of a process group of its own (so the
// whole group can be killed), killed with its context where the kernel
// offers it (Pdeathsig on Linux).
func setGroup(cmd *exec.Cmd) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	platform.SetPdeathsig(attr)
	cmd.SysProcAttr = attr
}

// killGroup sends sig to the process group led by pid.
func killGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }

// exitOf is the exit record of a process that ended with state.
func exitOf(state *os.ProcessState, err error) exitRecord {
	if state == nil {
		return exitRecord{Code: -1, Signal: "unknown: " + err.Error()}
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		name := unix.SignalName(ws.Signal())
		if name == "" {
			name = ws.Signal().String()
		}
		return exitRecord{Code: -1, Signal: name}
	}
	return exitRecord{Code: state.ExitCode()}
}
