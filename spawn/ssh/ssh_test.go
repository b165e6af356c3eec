package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// Messages of the SSH suite.
type (
	StrayPrint struct{ Text string } // the child prints Text on its stdout
	ExitNow    struct{ Code int }    // the child exits with Code
)

// sshSetup registers what the SSH suite needs in every context.
func sshSetup(n *actors.Node) error {
	if err := actors.RegisterType[StrayPrint](n, "test.StrayPrint"); err != nil {
		return err
	}
	if err := actors.RegisterType[ExitNow](n, "test.ExitNow"); err != nil {
		return err
	}
	n.RegisterKind("printer", actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *StrayPrint:
			fmt.Println(m.Text) // to stdout, which must not be the link
			c.Respond(&Pong{Pid: os.Getpid()})
		case *ExitNow:
			os.Exit(m.Code)
		}
	}))
	return nil
}

// sshServer starts a test sshd whose sessions cache binaries under a
// temporary XDG_CACHE_HOME (returned), so that tests never touch the real
// home directory. SHLVL=1 keeps bash from reading the test user's
// ~/.bashrc, which on a developer machine can take longer than everything
// measured here.
func sshServer(t testing.TB, cfg sshtest.Config) (*sshtest.Server, string) {
	t.Helper()
	cache := filepath.Join(t.TempDir(), "xdg")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg.Env = append(cfg.Env, "XDG_CACHE_HOME="+cache, "SHLVL=1")
	return sshtest.Start(t, cfg), cache
}

// sshOpts returns options that trust srv and authenticate with its user
// key, reading no ssh configuration and no agent. The remote environment
// comes from sshd, not from us: GORACE is passed on so that race-built
// children do not sleep at exit.
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
	}
}

// startSSH starts an SSH context that is shut down when the test ends.
func startSSH(t testing.TB, node *actors.Node, opts ssh.Options) *ssh.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := ssh.Start(ctx, node, opts)
	if err != nil {
		t.Fatalf("ssh.Start(%s): %v", opts.Host, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}

// trySSH starts an SSH context that is expected to fail.
func trySSH(t testing.TB, node *actors.Node, opts ssh.Options) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := ssh.Start(ctx, node, opts)
	if err == nil {
		_ = c.Shutdown(ctx)
		t.Fatalf("ssh.Start(%s) succeeded, want an error", opts.Host)
	}
	return err
}

// echoIn spawns an echo actor in c.
func echoIn(t testing.TB, c spawn.Child) *actor.PID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatalf("spawn echo in %s: %v", c.Name(), err)
	}
	return pid
}

// cachedPath is where the test binary lands in an XDG cache.
func cachedPath(t testing.TB, xdg string) string {
	t.Helper()
	self, err := spawn.Self()
	if err != nil {
		t.Fatal(err)
	}
	digest, err := self.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(xdg, "spindle", "spindle-"+digest)
}

func TestSSH_ColdThenWarm(t *testing.T) {
	srv, cache := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	ctx := testCtx(t, 60*time.Second)

	cold := startSSH(t, root, sshOpts(srv, "cold"))
	info := cold.Info()
	if info.Boot.CacheHit || info.Boot.Uploaded == 0 || info.Boot.Codec == "" || info.Boot.DigestTool == "" {
		t.Fatalf("first start: %+v, want an upload", info)
	}
	before, err := os.Stat(cachedPath(t, cache))
	if err != nil {
		t.Fatalf("binary not in the cache: %v", err)
	}
	if before.Mode().Perm() != 0o700 {
		t.Fatalf("cached binary mode %v, want 0700", before.Mode())
	}
	pong, err := actors.Request[*Pong](ctx, root, echoIn(t, cold), &Ping{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	if pong.Pid != info.Pid || pong.Context != "cold" {
		t.Fatalf("pong %+v, want pid %d in cold", pong, info.Pid)
	}

	warm := startSSH(t, root, sshOpts(srv, "warm"))
	winfo := warm.Info()
	if !winfo.Boot.CacheHit || winfo.Boot.Uploaded != 0 || winfo.Boot.Codec != "" {
		t.Fatalf("second start: %+v, want a cache hit with nothing uploaded", winfo)
	}
	after, err := os.Stat(cachedPath(t, cache))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("the cached binary was replaced on a warm start")
	}
	waitFor(t, 5*time.Second, "two authentications in the sshd log", func() bool {
		return strings.Count(srv.Log(), "Accepted publickey") == 2
	})
	if _, err := actors.Request[*Pong](ctx, root, echoIn(t, warm), &Ping{N: 2}); err != nil {
		t.Fatal(err)
	}
	t.Logf("cold: %+v", info)
	t.Logf("warm: %+v", winfo)
}

// TestSSH_Parity runs what works on a local context over SSH: actors,
// requests, one-way order, large payloads, watch, logs and stderr.
func TestSSH_Parity(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	capt := newCapture()
	root := newRoot(t, sloggerOf(capt))
	c := startSSH(t, root, sshOpts(srv, "par"))
	ctx := testCtx(t, 60*time.Second)
	pid := echoIn(t, c)
	t.Run("requests", func(t *testing.T) {
		for i := 0; i < 200; i++ {
			pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i})
			if err != nil {
				t.Fatal(err)
			}
			if pong.N != i || pong.Pid != c.Info().Pid {
				t.Fatalf("pong %+v for %d", pong, i)
			}
		}
	})
	t.Run("payload", func(t *testing.T) {
		payload := make([]byte, 4<<20)
		for i := range payload {
			payload[i] = byte(i * 13)
		}
		pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		if string(pong.Payload) != string(payload) {
			t.Fatal("payload changed on the way")
		}
	})
	t.Run("oneway", func(t *testing.T) {
		cpid, err := c.Spawn(ctx, "counter", "counter")
		if err != nil {
			t.Fatal(err)
		}
		const n = 20000
		for i := 0; i < n; i++ {
			if err := root.Send(cpid, &Count{N: i}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := actors.Request[*Counted](ctx, root, cpid, &GetCount{})
		if err != nil {
			t.Fatal(err)
		}
		if got.N != n {
			t.Fatalf("counted %d of %d", got.N, n)
		}
	})
	t.Run("logs", func(t *testing.T) {
		if _, err := actors.Request[*Pong](ctx, root, pid, &LogHello{Text: "over ssh"}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "forwarded log and stderr line", func() bool {
			la, ok1 := capt.find("hello from child")
			ea, ok2 := capt.find("child stderr")
			return ok1 && ok2 && la["ctx"] == "par" && la["text"] == "over ssh" && ea["line"] == "raw stderr line: over ssh"
		})
	})
	t.Run("stray-stdout", func(t *testing.T) {
		ppid, err := c.Spawn(ctx, "printer", "printer")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := actors.Request[*Pong](ctx, root, ppid, &StrayPrint{Text: "not a frame"}); err != nil {
			t.Fatal(err)
		}
		if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 7}); err != nil {
			t.Fatalf("link broken by a print to stdout: %v", err)
		}
		waitFor(t, 5*time.Second, "the stray line as stderr", func() bool {
			capt.mu.Lock()
			defer capt.mu.Unlock()
			for _, r := range *capt.recs {
				found := false
				r.Attrs(func(a slog.Attr) bool { found = found || a.Value.String() == "not a frame"; return true })
				if found {
					return true
				}
			}
			return false
		})
	})
	t.Run("graceful-shutdown", func(t *testing.T) {
		if err := c.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		if err := c.Shutdown(ctx); err != nil {
			t.Fatalf("second shutdown: %v", err)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("remote exit: %v, want status 0 (SHUTDOWN honoured)", err)
		}
		if alive(c.Info().Pid) {
			t.Fatal("remote process alive after Shutdown")
		}
	})
}

func TestSSH_RemoteProcessKilled(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	c := startSSH(t, root, sshOpts(srv, "victim"))
	pid := echoIn(t, c)
	watched := watch(t, root, pid)
	ctx := testCtx(t, 30*time.Second)
	if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
	failed := pendingRequest(ctx, root, pid)
	// Killed on the host by someone else (the remote host is this machine).
	if err := syscall.Kill(c.Info().Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	expectDead(t, failed, watched, pid, "killed by signal KILL")
	var re *spawn.RemoteExitError
	if reason := deadReason(t, c); !errors.As(reason, &re) || re.Signal != "KILL" || re.Pid != c.Info().Pid {
		t.Fatalf("DeadReason %#v, want a RemoteExitError for KILL", reason)
	}
	if err := c.Wait(ctx); !errors.As(err, &re) {
		t.Fatalf("Wait: %v", err)
	}
}

func TestSSH_KillMethod(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	c := startSSH(t, root, sshOpts(srv, "killed"))
	pid := echoIn(t, c)
	ctx := testCtx(t, 30*time.Second)
	failed := pendingRequest(ctx, root, pid)
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	expectDead(t, failed, nil, pid, "KILL")
	waitFor(t, 5*time.Second, "remote process gone", func() bool { return !alive(c.Info().Pid) })
}

func TestSSH_ExitStatusIsTheReason(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	c := startSSH(t, root, sshOpts(srv, "quitter"))
	ctx := testCtx(t, 30*time.Second)
	ppid, err := c.Spawn(ctx, "printer", "printer")
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Send(ppid, &ExitNow{Code: 3}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Dead():
	case <-time.After(5 * time.Second):
		t.Fatal("no IS_DEAD 5s after the remote process exited")
	}
	var re *spawn.RemoteExitError
	if !errors.As(c.DeadReason(), &re) || re.Status != 3 || re.Signal != "" {
		t.Fatalf("DeadReason %v, want exit status 3", c.DeadReason())
	}
}

// TestSSH_ConnectionDropIsDead kills the sshd processes serving the
// connection: the TCP connection closes under a running context.
func TestSSH_ConnectionDropIsDead(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	c := startSSH(t, root, sshOpts(srv, "dropped"))
	pid := echoIn(t, c)
	watched := watch(t, root, pid)
	ctx := testCtx(t, 30*time.Second)
	if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
	failed := pendingRequest(ctx, root, pid)
	session := ppid(t, c.Info().Pid) // sshd: user@notty
	monitor := ppid(t, session)      // sshd: user [priv]
	for _, p := range []int{session, monitor} {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	expectDead(t, failed, watched, pid, "connection")
	if reason := deadReason(t, c); !errors.Is(reason, ssh.ErrConnectionLost) {
		t.Fatalf("DeadReason %v, want ErrConnectionLost", reason)
	}
	// Its stdin gone, the remote context exits: no orphan.
	waitFor(t, 5*time.Second, "remote process gone", func() bool { return !alive(c.Info().Pid) })
}

func TestSSH_ConcurrentColdStarts(t *testing.T) {
	srv, cache := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	const n = 4
	var wg sync.WaitGroup
	ctxs := make([]*ssh.Context, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ctxs[i], errs[i] = ssh.Start(ctx, root, sshOpts(srv, fmt.Sprintf("racer-%d", i)))
		}(i)
	}
	wg.Wait()
	uploads := 0
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		c := ctxs[i]
		t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
		if !c.Info().Boot.CacheHit {
			uploads++
		}
		if _, err := actors.Request[*Pong](testCtx(t, 10*time.Second), root, echoIn(t, c), &Ping{}); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(cache, "spindle"))
	if err != nil {
		t.Fatal(err)
	}
	entries = slices.DeleteFunc(entries, func(e os.DirEntry) bool { return e.Name() == ".spindle-prune" }) // the prune stamp
	if len(entries) != 1 || entries[0].Name() != filepath.Base(cachedPath(t, cache)) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("cache holds %v, want only the binary (no temporary files)", names)
	}
	self, _ := spawn.Self()
	digest, _ := self.Digest()
	out, err := exec.Command("sha256sum", cachedPath(t, cache)).Output()
	if err != nil || !strings.HasPrefix(string(out), digest) {
		t.Fatalf("cached binary digest %q, want %s (%v)", out, digest, err)
	}
	t.Logf("%d of %d starts uploaded", uploads, n)
}

func TestSSH_NoGoroutineLeakAfterShutdown(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	opts := goleak.IgnoreCurrent()
	func() {
		root, err := actors.NewNode(actors.Config{Setup: setup, Logger: sloggerOf(newCapture())})
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t, 60*time.Second)
		for i := 0; i < 2; i++ {
			c, err := ssh.Start(ctx, root, sshOpts(srv, fmt.Sprintf("leak-%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := actors.Request[*Pong](ctx, root, echoIn(t, c), &Ping{}); err != nil {
				t.Fatal(err)
			}
		}
		// A failed start leaves nothing either.
		bad := sshOpts(srv, "bad")
		bad.Shell = "/nonexistent/sh"
		if _, err := ssh.Start(ctx, root, bad); err == nil {
			t.Fatal("start with a missing shell succeeded")
		}
		if err := root.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	goleak.VerifyNone(t, opts)
}

// watch starts an actor in node that watches pid and reports Terminated.
func watch(t testing.TB, node *actors.Node, pid *actor.PID) <-chan *actor.Terminated {
	t.Helper()
	ch := make(chan *actor.Terminated, 1)
	ready := make(chan struct{})
	node.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Watch(pid)
			close(ready)
		case *actor.Terminated:
			ch <- m
		}
	}))
	<-ready
	return ch
}

// pendingRequest starts a request that the echo actor answers only after
// a minute, and gives it time to leave.
func pendingRequest(ctx context.Context, node *actors.Node, pid *actor.PID) <-chan error {
	failed := make(chan error, 1)
	go func() {
		_, err := actors.Request[*Pong](ctx, node, pid, &Ping{Delay: time.Minute})
		failed <- err
	}()
	time.Sleep(50 * time.Millisecond)
	return failed
}

// expectDead checks that the pending request failed with IS_DEAD naming
// want, and that the watcher (if any) got Terminated, both within 5s.
func expectDead(t testing.TB, failed <-chan error, watched <-chan *actor.Terminated, pid *actor.PID, want string) {
	t.Helper()
	select {
	case err := <-failed:
		var de *actors.DeadError
		if !errors.Is(err, actors.ErrContextDead) || !errors.As(err, &de) || !strings.Contains(de.Reason, want) {
			t.Fatalf("pending request: %v, want ErrContextDead naming %q", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending request still waiting 5s after the context died")
	}
	if watched == nil {
		return
	}
	select {
	case m := <-watched:
		if m.Why != actor.TerminatedReason_AddressTerminated || m.Who.Id != pid.Id {
			t.Fatalf("Terminated %v, want AddressTerminated of %v", m, pid)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no Terminated 5s after the context died")
	}
}

// deadReason waits until c's link is gone (requests may fail with IS_DEAD
// a moment before Dead is closed) and returns why.
func deadReason(t testing.TB, c spawn.Child) error {
	t.Helper()
	select {
	case <-c.Dead():
	case <-time.After(5 * time.Second):
		t.Fatal("link still up 5s after IS_DEAD")
	}
	return c.DeadReason()
}

// ppid returns the parent process ID of pid.
func ppid(t testing.TB, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	p, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
