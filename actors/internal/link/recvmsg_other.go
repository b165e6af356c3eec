//go:build !(linux || freebsd || netbsd || openbsd || dragonfly)

package link

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// readMsg reads from c with recvmsg. This kernel (darwin) has no
// MSG_CMSG_CLOEXEC, and net's ReadMsgUnix marks received descriptors
// close-on-exec only after recvmsg returned, outside syscall.ForkLock, so
// a fork/exec in between would inherit them. Here recvmsg and the marking
// both run under ForkLock, which os/exec holds while it forks. The
// descriptors are found with parseRights, which also reads darwin's
// truncated control messages (a cmsg_len longer than the buffer).
func readMsg(c *net.UnixConn, p, oob []byte) (n, oobn, flags int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, 0, err
	}
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		syscall.ForkLock.RLock()
		for {
			n, oobn, flags, _, rerr = syscall.Recvmsg(int(fd), p, oob, 0)
			if !errors.Is(rerr, syscall.EINTR) {
				break
			}
		}
		if rerr == nil && oobn > 0 {
			fds, _ := parseRights(oob[:oobn])
			for _, d := range fds {
				syscall.CloseOnExec(d)
			}
		}
		syscall.ForkLock.RUnlock()
		return !errors.Is(rerr, syscall.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, 0, 0, err
	}
	if n == 0 && len(p) > 0 {
		return 0, oobn, flags, io.EOF // a stream socket's orderly shutdown
	}
	return n, oobn, flags, nil
}
