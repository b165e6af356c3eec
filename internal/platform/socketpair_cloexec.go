//go:build linux || freebsd || netbsd || openbsd || dragonfly

package platform

import "syscall"

// Socketpair returns a connected pair of AF_UNIX stream sockets, both
// close-on-exec from the start (SOCK_CLOEXEC), so no concurrent fork/exec
// inherits them.
func Socketpair() (int, int, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	return fds[0], fds[1], nil
}

// MsgCmsgCloexec is the recvmsg flag that makes received descriptors
// close-on-exec as they arrive (MSG_CMSG_CLOEXEC).
const MsgCmsgCloexec = syscall.MSG_CMSG_CLOEXEC
