package execrun

import (
	"os"
	"syscall"
)

// sysProcAttr: own process group (signals reach it and only it), and
// SIGKILL when the parent dies, so a killed parent leaves no CLI behind
// (the command then sees EOF on its stdin).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// pipeSize is the capacity asked for each pipe (Linux default: 64 KiB).
const pipeSize = 1 << 20

// growPipe raises a pipe's capacity when the system allows it; failure
// (an unprivileged user over /proc/sys/fs/pipe-max-size) is harmless.
func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize)
		})
	}
}
