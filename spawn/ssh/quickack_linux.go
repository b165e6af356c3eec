//go:build linux

package ssh

import (
	"net"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAckConn asks the kernel to acknowledge every segment at once
// (TCP_QUICKACK, which Linux resets after a while, so it is set before
// each read) until disable is called. OpenSSH's sshd turns Nagle's
// algorithm off only when a session starts; before that, its second small
// write waits for our delayed ACK, 40 ms on Linux, once per exchange (the
// channel open, for one). Acknowledging at once removes that stall.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
	off atomic.Bool
}

func newQuickAckConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{Conn: c, raw: raw}
}

func (q *quickAckConn) Read(p []byte) (int, error) {
	if !q.off.Load() {
		_ = q.raw.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
		})
	}
	return q.Conn.Read(p)
}

// disableQuickAck stops setting TCP_QUICKACK on c (once the session runs,
// sshd has Nagle's algorithm off and the reads are the link's hot path).
func disableQuickAck(c net.Conn) {
	if q, ok := c.(*quickAckConn); ok {
		q.off.Store(true)
	}
}
