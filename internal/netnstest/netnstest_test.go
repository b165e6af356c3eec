package netnstest_test

import (
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/netnstest"
)

// TestNew_IsolatedAndRemoved: the root reaches the bastion's sshd and not
// the inner one's, the bastion reaches the inner one; a cut and a restore
// of the bastion's link; and after the test nothing is left: namespaces,
// links and processes.
func TestNew_IsolatedAndRemoved(t *testing.T) {
	var n *netnstest.Net
	t.Run("net", func(t *testing.T) {
		n = netnstest.New(t, netnstest.Config{})
		n.AssertIsolated(t)
		dial(t, n.Bastion.SSH.Addr, true)
		n.Bastion.Cut(t)
		dial(t, n.Bastion.SSH.Addr, false)
		n.Bastion.Restore(t)
		dial(t, n.Bastion.SSH.Addr, true)
		if left := n.Inner.Pids(t); len(left) != 0 {
			t.Fatalf("processes on an idle inner host:\n%s", netnstest.Describe(left))
		}
	})
	if t.Failed() || n == nil {
		return
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	links, err := exec.Command("ip", "-o", "link").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{n.Bastion.NS, n.Inner.NS} {
		if strings.Contains(string(out), name) {
			t.Errorf("namespace %s left after the test", name)
		}
		if strings.Contains(string(links), name[4:]) {
			t.Errorf("a link of %s left after the test:\n%s", name, links)
		}
	}
	for _, pid := range []int{n.Bastion.SSH.Pid(), n.Inner.SSH.Pid()} {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("sshd %d left after the test", pid)
		}
	}
}

// dial reports whether an SSH server answers at addr (a sandbox's proxy
// may accept any connection: the banner tells).
func dial(t *testing.T, addr string, want bool) {
	t.Helper()
	got := false
	// A link just brought up takes a moment to carry packets: a few tries
	// when it should.
	for try := 0; try < 5 && !got; try++ {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 4)
			k, _ := io.ReadFull(c, buf)
			got = string(buf[:k]) == "SSH-"
			_ = c.Close()
		}
		if !want {
			break
		}
	}
	if got != want {
		t.Fatalf("SSH at %s: %v, want %v", addr, got, want)
	}
}
