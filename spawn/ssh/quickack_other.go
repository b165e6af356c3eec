//go:build !linux

package ssh

import "net"

func newQuickAckConn(c net.Conn) net.Conn { return c }

func disableQuickAck(net.Conn) {}
