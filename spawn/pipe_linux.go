package spawn

import (
	"os"
	"syscall"
)

// pipeSize is the capacity asked for each link pipe (Linux default: 64 KiB).
// A larger pipe carries a big frame in fewer writes and wake-ups.
const pipeSize = 1 << 20

// growPipe raises a pipe's capacity when the system allows it; failure
// (an unprivileged user over /proc/sys/fs/pipe-max-size) is harmless.
func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ (Linux)
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize)
		})
	}
}
