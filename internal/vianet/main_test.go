package vianet_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/netnstest"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// Ping asks an echo actor about its process; Pong is its answer.
type (
	Ping struct{ N int }
	Pong struct {
		N       int
		Pid     int
		Context string
	}
)

func setup(n *actors.Node) error {
	if err := actors.RegisterType[Ping](n, "vianet.Ping"); err != nil {
		return err
	}
	if err := actors.RegisterType[Pong](n, "vianet.Pong"); err != nil {
		return err
	}
	n.RegisterKind("echo", actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Ping); ok {
			c.Respond(&Pong{N: m.N, Pid: os.Getpid(), Context: n.Name()})
		}
	}))
	return nil
}

func TestMain(m *testing.M) {
	spawn.Main(setup) // every context of the chain is this test binary
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// newRoot starts a root node with the given heartbeat (the contexts
// behind it adopt it hop by hop), shut down when the test ends.
func newRoot(t testing.TB, interval, timeout time.Duration) *actors.Node {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: logger,
		HeartbeatInterval: interval, HeartbeatTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sshOpts returns options that reach srv with its user key and
// known_hosts file, reading no ssh configuration and no agent. GORACE is
// passed on so that race-built contexts do not sleep at exit.
func sshOpts(srv *sshtest.Server, name string) ssh.Options {
	var env []string
	if v := os.Getenv("GORACE"); v != "" {
		env = append(env, "GORACE="+v)
	}
	return ssh.Options{
		Common:          spawn.Common{Env: env, Name: name, Grace: time.Second},
		Host:            srv.User + "@" + srv.Addr,
		ConfigFile:      "none",
		Agent:           "none",
		IdentityFiles:   []string{srv.UserKey},
		KnownHostsFiles: []string{srv.KnownHosts},
		ConnectTimeout:  5 * time.Second,
	}
}

// chain is a root, the namespaces, and the contexts root -> ssh bastion
// -> ssh inner (through the bastion) [-> sudo root on inner] -> local
// app, each started through the one before it.
type chain struct {
	net                 *netnstest.Net
	root                *actors.Node
	bastion, inner, app spawn.Child
	sudo                spawn.Child           // root@inner, with withSudo
	hops                []spawn.Child         // in order
	echo                map[string]*actor.PID // per context name
	pids                map[string]int        // process of each context
}

// startChain builds the chain and checks that every context answers from
// the host it should run on. With withSudo the inner context logs in as
// the test user spindle-a (internal/sudotest) and a context under sudo to
// root, with spindle-a's password asked at the root, comes between it and
// app.
func startChain(t *testing.T, interval, timeout time.Duration, withSudo bool) *chain {
	t.Helper()
	var users *sudotest.Users
	if withSudo {
		users = sudotest.Setup(t)
	}
	n := netnstest.New(t, netnstest.Config{})
	n.AssertIsolated(t)
	root := newRoot(t, interval, timeout)
	ctx := testCtx(t, 3*time.Minute)
	c := &chain{net: n, root: root, echo: map[string]*actor.PID{}, pids: map[string]int{}}
	add := func(x spawn.Child, err error, what string) spawn.Child {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Cleanup(func() { shutdown(x) })
		c.hops = append(c.hops, x)
		return x
	}
	b, err := ssh.Start(ctx, root, sshOpts(n.Bastion.SSH, "bastion"))
	c.bastion = add(b, err, "ssh to the bastion")
	innerOpts := sshOpts(n.Inner.SSH, "inner")
	innerOpts.Via = c.bastion // the bastion dials the inner host: not ProxyJump
	wantUID := map[string]int{"bastion": 0, "inner": 0, "app": 0}
	if withSudo {
		n.Inner.SSH.OpenToAllUsers(t)
		innerOpts.Host = users.A.Name + "@" + n.Inner.SSH.Addr
		innerOpts.CacheDirs = []string{cacheDir(t)} // the host's XDG cache is root's
		wantUID["inner"] = int(users.A.UID)
	}
	i, err := ssh.Start(ctx, root, innerOpts)
	c.inner = add(i, err, "ssh to the inner host through the bastion")
	last := c.inner
	if withSudo {
		tgt, err := sudo.Sudo(&sudo.Host{}, sudo.Options{Auth: sudo.Auth{Password: atTheRoot(users.A.Password)}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := spawn.Start(ctx, root, tgt, spawn.Common{Name: "root@inner", Grace: time.Second, Env: raceEnv(), Via: c.inner},
			spawn.Bootstrap{CacheDirs: []string{cacheDir(t)}})
		c.sudo = add(p, err, "sudo on the inner host")
		last = c.sudo
		wantUID["root@inner"] = 0
	}
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "app", Grace: time.Second, Via: last}})
	c.app = add(a, err, "local context on the inner host")
	for _, x := range c.hops {
		host := n.Inner
		if x == c.bastion {
			host = n.Bastion
		}
		pid, err := x.Spawn(ctx, "echo", "echo")
		if err != nil {
			t.Fatalf("spawn in %s: %v", x.Name(), err)
		}
		pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 1})
		if err != nil || pong.Context != x.Name() {
			t.Fatalf("%s: pong %+v, %v", x.Name(), pong, err)
		}
		if got, want := netNS(pong.Pid), netNS(host.SSH.Pid()); got == "" || got != want {
			t.Fatalf("%s runs in network namespace %q, want %s's %q", x.Name(), got, host.Name, want)
		}
		if got := uidOf(pong.Pid); got != wantUID[x.Name()] {
			t.Fatalf("%s runs as uid %d, want %d", x.Name(), got, wantUID[x.Name()])
		}
		c.echo[x.Name()], c.pids[x.Name()] = pid, pong.Pid
	}
	for k := 1; k < len(c.hops); k++ {
		if v := c.hops[k].Info().Via; v != c.hops[k-1].ID() {
			t.Fatalf("%s started by ctx-%d, want %s ctx-%d", c.hops[k].Name(), v, c.hops[k-1].Name(), c.hops[k-1].ID())
		}
	}
	return c
}

// atTheRoot answers sudo's password prompt, and fails the test process if
// it is ever asked anywhere but here (the intermediates must ask the root).
func atTheRoot(pw string) sudo.Password {
	self := os.Getpid()
	return func(context.Context) ([]byte, error) {
		if os.Getpid() != self {
			panic("the password was asked outside the root")
		}
		return []byte(pw), nil
	}
}

// cacheDir is a binary cache directory that does not exist yet, under the
// shared temporary directory (so that any user can create it), removed
// when the test ends.
func cacheDir(t testing.TB) string {
	d := filepath.Join(os.TempDir(), sshtest.RandomName("spindle-vianet-", 12))
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func raceEnv() []string {
	if v := os.Getenv("GORACE"); v != "" {
		return []string{"GORACE=" + v}
	}
	return nil
}

// uidOf returns the real uid of pid (-1 when unknown).
func uidOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			u, _ := strconv.Atoi(f[1])
			return u
		}
	}
	return -1
}

func shutdown(c spawn.Child) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.Shutdown(ctx)
}

// netNS returns the network namespace of pid ("net:[4026532...]").
func netNS(pid int) string {
	s, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	return s
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitEmpty waits until no process but its sshd runs on host h.
func waitEmpty(t *testing.T, h *netnstest.Host, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := h.Pids(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left on the %s host %v after the bastion's end:\n%s", h.Name, d, netnstest.Describe(left))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pending sends a request that the echo actor never answers (an unknown
// message) and returns where its error arrives.
func pending(ctx context.Context, root *actors.Node, pid *actor.PID) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := actors.Request[*Pong](ctx, root, pid, &Pong{})
		ch <- err
	}()
	return ch
}
