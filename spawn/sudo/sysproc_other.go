//go:build !linux

package sudo

import "syscall"

// sysProcAttr: a process group of its own, or a session for a terminal.
func sysProcAttr(tty bool) *syscall.SysProcAttr {
	if tty {
		return &syscall.SysProcAttr{Setsid: true, Setctty: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}
