package sshtest

import (
	"crypto/rand"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// NetNS is a network namespace joined to the test's own namespace by a veth
// pair: a second host on this machine whose only way in is that link.
type NetNS struct {
	Name   string // namespace name (for ip netns exec)
	HostIf string // the veth end in the test's namespace
	NSIf   string // the veth end inside the namespace
	HostIP string // address of HostIf
	NSIP   string // address of NSIf: dial this to reach the namespace
}

// NewNetNS creates a namespace with a /30 on a veth pair and removes it
// when the test ends. It needs root and iproute2 (see Require).
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	Require(t, "ip")
	var b [2]byte
	_, _ = rand.Read(b[:])
	// A random /30 in 10.213.0.0/16 so that concurrent runs do not clash.
	third, fourth := int(b[0]), int(b[1]&0xfc)
	n := &NetNS{
		Name:   RandomName("spdl", 8),
		HostIP: fmt.Sprintf("10.213.%d.%d", third, fourth+1),
		NSIP:   fmt.Sprintf("10.213.%d.%d", third, fourth+2),
	}
	n.HostIf = "vh" + n.Name[4:]
	n.NSIf = "vn" + n.Name[4:]
	t.Cleanup(func() { _ = ip("netns", "del", n.Name); _ = ip("link", "del", n.HostIf) })
	steps := [][]string{
		{"netns", "add", n.Name},
		{"link", "add", n.HostIf, "type", "veth", "peer", "name", n.NSIf},
		{"link", "set", n.NSIf, "netns", n.Name},
		{"addr", "add", n.HostIP + "/30", "dev", n.HostIf},
		{"link", "set", n.HostIf, "up"},
		{"-n", n.Name, "addr", "add", n.NSIP + "/30", "dev", n.NSIf},
		{"-n", n.Name, "link", "set", n.NSIf, "up"},
		{"-n", n.Name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	return n
}

// Down takes the host's end of the link down: packets stop flowing both
// ways and nobody is told (no RST, no FIN), like a pulled cable.
func (n *NetNS) Down(t testing.TB) {
	t.Helper()
	if err := ip("link", "set", n.HostIf, "down"); err != nil {
		t.Fatal(err)
	}
}

// Up brings the host's end of the link back.
func (n *NetNS) Up(t testing.TB) {
	t.Helper()
	if err := ip("link", "set", n.HostIf, "up"); err != nil {
		t.Fatal(err)
	}
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
