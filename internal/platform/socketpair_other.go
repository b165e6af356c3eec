//go:build !(linux || freebsd || netbsd || openbsd || dragonfly)

package platform

import "syscall"

// Socketpair returns a connected pair of AF_UNIX stream sockets, both
// close-on-exec. This kernel has no SOCK_CLOEXEC, so the pair is created
// and marked under syscall.ForkLock, which os/exec holds while it forks:
// no child started meanwhile inherits them.
func Socketpair() (int, int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1, -1, err
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return fds[0], fds[1], nil
}

// MsgCmsgCloexec is 0: this kernel has no MSG_CMSG_CLOEXEC. A reader that
// may race a fork/exec receives under syscall.ForkLock and marks the
// descriptors close-on-exec itself before it lets go.
const MsgCmsgCloexec = 0
