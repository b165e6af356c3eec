//go:build linux || freebsd || netbsd || openbsd || dragonfly

package link

import "net"

// readMsg reads from c with recvmsg. Net's ReadMsgUnix passes
// MSG_CMSG_CLOEXEC, so descriptors arrive close-on-exec atomically.
func readMsg(c *net.UnixConn, p, oob []byte) (n, oobn, flags int, err error) {
	n, oobn, flags, _, err = c.ReadMsgUnix(p, oob)
	return n, oobn, flags, err
}
