//go:build !linux

package spawn

import "net"

func newQuickAckConn(c net.Conn) net.Conn { return c }

func disableQuickAck(net.Conn) {}
