// Package netnstest builds a small isolated network for tests: a bastion
// host that the test's own (root) namespace reaches over a veth pair, and
// an inner host that only the bastion reaches, over a second veth pair.
// The root namespace has no route to the inner host and the bastion does
// not forward, so the only way in is through a process on the bastion.
// Each host runs its own OpenSSH sshd (internal/sshtest, started under
// `ip netns exec`).
//
//	root ns ──veth── bastion ns ──veth── inner ns
//	          (sshd on Bastion.IP)     (sshd on Inner.IP)
//
// # Usage
//
//	n := netnstest.New(t, netnstest.Config{})
//	// dial n.Bastion.SSH.Addr from the test; from a context on the
//	// bastion, dial n.Inner.SSH.Addr (n.Inner.SSH.KnownHosts and
//	// n.Inner.SSH.UserKey are files on this machine's file system, which
//	// the namespaces share)
//	n.Bastion.Cut(t)          // pull the root <-> bastion cable
//	n.Inner.Pids(t)           // what still runs on the inner host
//
// Names are unique per call (namespaces spnb…/spni…, veths vrb…, vbr…,
// vbi…, vib…, in 10.214.0.0/16 and 10.215.0.0/16), and t.Cleanup removes
// everything: processes left in the namespaces are killed, then the
// namespaces and veths are deleted. New needs root and iproute2, sshd and
// ssh-keygen: without them it skips the test, unless
// SPINDLE_REQUIRE_INTEGRATION=1, in which case it fails.
package netnstest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/sshtest"
)

// Config configures New. The zero value gives two hosts with default sshd
// configurations.
type Config struct {
	// SSH is the base configuration of both sshd; ListenIP, Port and
	// NetNS are set by New, and Env gets each host's XDG_CACHE_HOME (its
	// own temporary directory, Host.Cache) and SHLVL=1 (no ~/.bashrc).
	SSH sshtest.Config
}

// Net is the bastion and the inner host.
type Net struct {
	Bastion *Host
	Inner   *Host
}

// Host is one namespace with its sshd.
type Host struct {
	Name  string // "bastion" or "inner"
	NS    string // namespace name, for ip netns exec
	IP    string // the address its sshd listens on (on the link toward the upstream side)
	SSH   *sshtest.Server
	Cache string // XDG_CACHE_HOME of the sessions: where the bootstrap caches binaries

	upNS string // namespace of the upstream end ("" for the root's)
	upIf string // the upstream end of the link that reaches this host
}

// New creates the two namespaces, their links and an sshd in each, and
// registers their removal with t.Cleanup.
func New(t testing.TB, cfg Config) *Net {
	t.Helper()
	sshtest.Require(t, "ip", "sshd", "ssh-keygen")
	tag := sshtest.RandomName("", 8)
	var b [2]byte
	_, _ = rand.Read(b[:])
	third, fourth := int(b[0]), int(b[1]&0xfc)
	n := &Net{
		Bastion: &Host{Name: "bastion", NS: "spnb" + tag, IP: fmt.Sprintf("10.214.%d.%d", third, fourth+2), upIf: "vrb" + tag},
		Inner:   &Host{Name: "inner", NS: "spni" + tag, IP: fmt.Sprintf("10.215.%d.%d", third, fourth+2), upIf: "vbi" + tag},
	}
	n.Inner.upNS = n.Bastion.NS
	rootIP := fmt.Sprintf("10.214.%d.%d", third, fourth+1)
	bastionInIP := fmt.Sprintf("10.215.%d.%d", third, fourth+1)
	// Removal first, so that it also runs when a step below fails; the
	// sshd of each host is stopped before it (t.Cleanup is last in,
	// first out).
	t.Cleanup(func() { n.remove(t) })
	steps := [][]string{
		{"netns", "add", n.Bastion.NS},
		{"netns", "add", n.Inner.NS},
		// root <-> bastion
		{"link", "add", "vrb" + tag, "type", "veth", "peer", "name", "vbr" + tag},
		{"link", "set", "vbr" + tag, "netns", n.Bastion.NS},
		{"addr", "add", rootIP + "/30", "dev", "vrb" + tag},
		{"link", "set", "vrb" + tag, "up"},
		{"-n", n.Bastion.NS, "addr", "add", n.Bastion.IP + "/30", "dev", "vbr" + tag},
		{"-n", n.Bastion.NS, "link", "set", "vbr" + tag, "up"},
		{"-n", n.Bastion.NS, "link", "set", "lo", "up"},
		// bastion <-> inner, made inside the bastion's namespace: the
		// root's namespace never holds either end.
		{"-n", n.Bastion.NS, "link", "add", "vbi" + tag, "type", "veth", "peer", "name", "vib" + tag},
		{"-n", n.Bastion.NS, "link", "set", "vib" + tag, "netns", n.Inner.NS},
		{"-n", n.Bastion.NS, "addr", "add", bastionInIP + "/30", "dev", "vbi" + tag},
		{"-n", n.Bastion.NS, "link", "set", "vbi" + tag, "up"},
		{"-n", n.Inner.NS, "addr", "add", n.Inner.IP + "/30", "dev", "vib" + tag},
		{"-n", n.Inner.NS, "link", "set", "vib" + tag, "up"},
		{"-n", n.Inner.NS, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatalf("netnstest: %v", err)
		}
	}
	// The bastion must not route between its links (a new namespace
	// starts with forwarding off; say so rather than trust it).
	if err := run("ip", "netns", "exec", n.Bastion.NS, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	for _, h := range []*Host{n.Bastion, n.Inner} {
		h.Cache = filepath.Join(t.TempDir(), "xdg")
		if err := os.Mkdir(h.Cache, 0o700); err != nil {
			t.Fatal(err)
		}
		c := cfg.SSH
		c.ListenIP, c.Port, c.NetNS = h.IP, 22, h.NS
		c.Env = append(slices.Clone(c.Env), "XDG_CACHE_HOME="+h.Cache, "SHLVL=1")
		h.SSH = sshtest.Start(t, c)
	}
	return n
}

// remove kills what is left in the namespaces and deletes them with
// their links.
func (n *Net) remove(t testing.TB) {
	for _, h := range []*Host{n.Inner, n.Bastion} {
		for _, pid := range nsPids(h.NS) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, h := range []*Host{n.Inner, n.Bastion} {
		if err := waitGone(h.NS, 5*time.Second); err != nil {
			t.Logf("netnstest: %v", err)
		}
		_ = ip("netns", "del", h.NS)
	}
	_ = ip("link", "del", n.Bastion.upIf) // gone with its peer already, unless a step failed
}

// AssertIsolated fails t unless the root namespace cannot talk to the
// inner host's sshd while the bastion can. "Cannot talk" means: no SSH
// banner within 2s. A connect alone proves nothing, since a sandbox may
// accept every TCP connection on its default route (a transparent
// proxy), and the root's default route is not one of ours.
func (n *Net) AssertIsolated(t testing.TB) {
	t.Helper()
	if banner := sshBanner(n.Inner.SSH.Addr, 2*time.Second); banner != "" {
		t.Fatalf("netnstest: the root namespace reaches the inner host at %s: %q", n.Inner.SSH.Addr, banner)
	}
	if out, err := exec.Command("ip", "route", "get", n.Inner.IP).CombinedOutput(); err == nil && strings.Contains(string(out), n.Bastion.upIf) {
		t.Fatalf("netnstest: the root routes to the inner host through the bastion: %s", out)
	}
	// From the bastion: ssh-keyscan prints the host key only if it
	// connected and spoke SSH.
	out, err := exec.Command("ip", "netns", "exec", n.Bastion.NS, "ssh-keyscan", "-T", "5",
		"-p", strconv.Itoa(n.Inner.SSH.Port), n.Inner.IP).Output()
	if err != nil || !strings.Contains(string(out), "ssh-") {
		t.Fatalf("netnstest: the bastion does not reach the inner host: %v %q", err, out)
	}
}

// sshBanner returns what a server at addr says first, if it speaks SSH
// within d ("" otherwise).
func sshBanner(addr string, d time.Duration) string {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 64)
	k, _ := io.ReadAtLeast(c, buf, 4)
	if !strings.HasPrefix(string(buf[:k]), "SSH-") {
		return ""
	}
	return strings.TrimSpace(string(buf[:k]))
}

// Cut takes the upstream end of the link to h down (the root's end for
// the bastion, the bastion's for the inner host): packets stop both ways
// and nobody is told (no FIN, no RST), like a pulled cable.
func (h *Host) Cut(t testing.TB) {
	t.Helper()
	if err := ip(h.upArgs("link", "set", h.upIf, "down")...); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
}

// Restore brings the link Cut took down back up.
func (h *Host) Restore(t testing.TB) {
	t.Helper()
	if err := ip(h.upArgs("link", "set", h.upIf, "up")...); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
}

func (h *Host) upArgs(args ...string) []string {
	if h.upNS == "" {
		return args
	}
	return append([]string{"-n", h.upNS}, args...)
}

// LinkBytes returns the bytes that crossed the link to h so far (both
// ways, Ethernet frames: SSH, TCP and IP included), read from the counters
// of its upstream end.
func (h *Host) LinkBytes(t testing.TB) uint64 {
	t.Helper()
	out, err := exec.Command("ip", h.upArgs("-s", "-j", "link", "show", "dev", h.upIf)...).Output()
	if err != nil {
		t.Fatalf("netnstest: ip link show %s: %v", h.upIf, err)
	}
	var links []struct {
		Stats struct {
			RX, TX struct {
				Bytes uint64 `json:"bytes"`
			}
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("netnstest: ip -j link show %s: %v %q", h.upIf, err, out)
	}
	return links[0].Stats.RX.Bytes + links[0].Stats.TX.Bytes
}

// Pids returns the processes running in h's namespace other than its
// listening sshd: the sessions and whatever they started.
func (h *Host) Pids(t testing.TB) []int {
	t.Helper()
	var out []int
	for _, pid := range nsPids(h.NS) {
		if pid != h.SSH.Pid() && !zombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// Describe returns "pid command line" for each pid, for failure messages.
func Describe(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		fmt.Fprintf(&b, "%d %s\n", pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " "))
	}
	return b.String()
}

// nsPids lists the processes in namespace ns (ip netns pids).
func nsPids(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// waitGone waits until nothing but zombies runs in ns.
func waitGone(ns string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		left := slices.DeleteFunc(nsPids(ns), zombie)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still in %s after SIGKILL", left, ns)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// zombie reports whether pid has exited and waits for its parent (or is
// gone already).
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func ip(args ...string) error { return run("ip", args...) }

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
