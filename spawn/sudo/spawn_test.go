package sudo_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// Messages between the test and its child contexts.
type (
	Who struct {
		Payload []byte
		Log     string // when set: log it (slog) and write it to stderr
	}
	Me struct {
		Uid, Pid int
		Payload  []byte
	}
)

// setup runs in the root and in every child: the types and the "who"
// kind, which answers with the user and process it runs as.
func setup(n *actors.Node) error {
	if err := actors.RegisterType[Who](n, "sudotest.Who"); err != nil {
		return err
	}
	if err := actors.RegisterType[Me](n, "sudotest.Me"); err != nil {
		return err
	}
	n.RegisterKind("who", actor.PropsFromProducer(func() actor.Actor { return who{node: n} }))
	return viaSetup(n)
}

type who struct{ node *actors.Node }

func (w who) Receive(c actor.Context) {
	if m, ok := c.Message().(*Who); ok {
		if m.Log != "" {
			w.node.Logger().Info("hello from another user", "text", m.Log)
			fmt.Fprintln(os.Stderr, "raw stderr line:", m.Log)
		}
		c.Respond(&Me{Uid: os.Getuid(), Pid: os.Getpid(), Payload: m.Payload})
	}
}

func newRoot(t testing.TB) *actors.Node {
	t.Helper()
	return newRootLog(t, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

func newRootLog(t testing.TB, log *slog.Logger) *actors.Node {
	t.Helper()
	n, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Logf("%s", p); return len(p), nil }

// cacheDir is a cache directory the target user creates (private to it);
// removed when the test ends.
func cacheDir(t testing.TB) string {
	d := filepath.Join(os.TempDir(), fmt.Sprintf("spindle-sudotest-%d-%d", os.Getpid(), time.Now().UnixNano()))
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func start(t testing.TB, root *actors.Node, tgt runner.Target, dir string) *spawn.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := spawn.Start(ctx, root, tgt, spawn.Common{Name: tgt.Info().Method, Grace: 5 * time.Second, Env: raceEnv()},
		spawn.Bootstrap{CacheDirs: []string{dir}})
	if err != nil {
		t.Fatalf("start through %s: %v", tgt.Info().Method, err)
	}
	return p
}

// raceEnv passes GORACE on to the child (sudo, su -l and doas reset the
// environment), so that race-built children do not sleep at exit.
func raceEnv() []string {
	if v := os.Getenv("GORACE"); v != "" {
		return []string{"GORACE=" + v}
	}
	return nil
}

// ask spawns "who" in the child and asks it.
func ask(t testing.TB, root *actors.Node, p spawn.Child, payload int) *Me {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pid, err := p.Spawn(ctx, "who", "")
	if err != nil {
		t.Fatal(err)
	}
	me, err := actors.Request[*Me](ctx, root, pid, &Who{Payload: make([]byte, payload)})
	if err != nil {
		t.Fatal(err)
	}
	if len(me.Payload) != payload {
		t.Fatalf("payload %d bytes back, want %d", len(me.Payload), payload)
	}
	return me
}

func stop(t testing.TB, p *spawn.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestSpawn_OneAuthenticationPerStart: a child context as root and as
// spindle-b through sudo with spindle-a's password. The cold start uploads
// the binary on the same stream: the password is asked once per start,
// cold and warm.
func TestSpawn_OneAuthenticationPerStart(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	for _, to := range []sudotest.User{{Name: "root"}, u.B} {
		dir := cacheDir(t)
		for i, wantHit := range []bool{false, true} {
			var calls atomic.Int32
			tgt := mustSudo(t, host(u.A), sudo.Options{User: to.Name, Auth: sudo.Auth{Password: countingPassword(u.A.Password, &calls)}})
			p := start(t, root, tgt, dir)
			info := p.Info()
			if info.Boot.CacheHit != wantHit || calls.Load() != 1 {
				t.Fatalf("%s start %d: cache hit %v (want %v), password asked %d times", to.Name, i, info.Boot.CacheHit, wantHit, calls.Load())
			}
			me := ask(t, root, p, 1<<20)
			if me.Uid != int(to.UID) || me.Pid != info.Pid {
				t.Fatalf("child runs as uid %d pid %d, want %d pid %d", me.Uid, me.Pid, to.UID, info.Pid)
			}
			stop(t, p)
		}
	}
}

// TestSpawn_SuAndDoas: child contexts through su (to spindle-b) and doas
// (to root), each with one password.
func TestSpawn_SuAndDoas(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	var suCalls, doasCalls atomic.Int32
	su := mustTTY(t)(sudo.Su(host(u.A), sudo.SuOptions{User: u.B.Name, Auth: sudo.Auth{Password: countingPassword(u.B.Password, &suCalls)}}))
	doas := mustTTY(t)(sudo.Doas(host(u.A), sudo.DoasOptions{Auth: sudo.Auth{Password: countingPassword(u.A.Password, &doasCalls)}}))
	for _, c := range []struct {
		tgt   runner.Target
		uid   uint32
		calls *atomic.Int32
	}{{su, u.B.UID, &suCalls}, {doas, 0, &doasCalls}} {
		p := start(t, root, c.tgt, cacheDir(t))
		if me := ask(t, root, p, 64<<10); me.Uid != int(c.uid) || c.calls.Load() != 1 {
			t.Fatalf("%s: uid %d, password asked %d times", c.tgt.Info().Method, me.Uid, c.calls.Load())
		}
		stop(t, p)
	}
}

// TestSpawn_SudoInsideSSH: ssh to 127.0.0.1 as spindle-a, sudo to root,
// a child context there: one expression, one password.
func TestSpawn_SudoInsideSSH(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	var calls atomic.Int32
	tgt := mustSudo(t, sshAs(t, u.A), sudo.Options{Auth: sudo.Auth{Password: countingPassword(u.A.Password, &calls)}})
	p := start(t, root, tgt, cacheDir(t))
	if me := ask(t, root, p, 1<<20); me.Uid != 0 || calls.Load() != 1 {
		t.Fatalf("uid %d, password asked %d times", me.Uid, calls.Load())
	}
	stop(t, p)
}

// TestSpawn_SudoOverSSHTarget: spawn/ssh's own Target (x/crypto/ssh to
// the real sshd, as spindle-a), sudo to root over it, a child context.
func TestSpawn_SudoOverSSHTarget(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	cli := sshAs(t, u.A) // starts sshd and lets spindle-a read the key file
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := ssh.Dial(ctx, root, ssh.Options{Host: u.A.Name + "@" + cli.addr, ConfigFile: "none", Agent: "none",
		IdentityFiles: []string{cli.key}, KnownHostsFiles: []string{cli.knownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var calls atomic.Int32
	tgt := mustSudo(t, st, sudo.Options{Auth: sudo.Auth{Password: countingPassword(u.A.Password, &calls)}})
	for i := 0; i < 2; i++ { // cold, then warm: one password each
		p := start(t, root, tgt, cacheDir(t))
		if me := ask(t, root, p, 1<<20); me.Uid != 0 || calls.Load() != int32(i+1) {
			t.Fatalf("start %d: uid %d, password asked %d times", i, me.Uid, calls.Load())
		}
		stop(t, p)
	}
}

// TestSpawn_KilledSudoRaisesIsDead: kill -9 on the sudo process of a
// running child: the root sees IS_DEAD with sudo's death as the reason,
// and the child (root, beyond sudo) is gone.
func TestSpawn_KilledSudoRaisesIsDead(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	tgt := mustSudo(t, host(u.A), sudo.Options{Auth: sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}})
	p := start(t, root, tgt, cacheDir(t))
	me := ask(t, root, p, 16)
	sudoPid := parentOf(t, me.Pid)
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(sudoPid) + "/comm"); strings.TrimSpace(string(comm)) != "sudo" {
		t.Fatalf("the child's parent %d is %q, not sudo", sudoPid, comm)
	}
	if err := syscall.Kill(sudoPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	go func() { err := p.Wait(context.Background()); t.Logf("wait after %v: %v", time.Since(killed), err) }()
	select {
	case <-p.Dead():
		t.Logf("dead after %v", time.Since(killed))
	case <-time.After(10 * time.Second):
		t.Fatal("no IS_DEAD 10s after sudo was killed")
	}
	var re *spawn.RemoteExitError
	if err := p.DeadReason(); !errors.As(err, &re) || re.Signal != "KILL" {
		t.Fatalf("dead reason %v, want sudo's SIGKILL", err)
	}
	t.Logf("dead reason: %v", p.DeadReason())
	for deadline := time.Now().Add(10 * time.Second); running(me.Pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the child %d still runs after sudo was killed", me.Pid)
		}
	}
	_ = p.Shutdown(context.Background())
}

// TestSpawn_WrongPassword: a typed error through spawn.Start, well within
// the deadline, after one attempt.
func TestSpawn_WrongPassword(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	var calls atomic.Int32
	tgt := mustSudo(t, host(u.A), sudo.Options{Auth: sudo.Auth{Password: countingPassword("nope", &calls)}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := spawn.Start(ctx, root, tgt, spawn.Common{}, spawn.Bootstrap{CacheDirs: []string{cacheDir(t)}})
	if !errors.Is(err, sudo.ErrBadPassword) || calls.Load() != 1 || ctx.Err() != nil {
		t.Fatalf("err = %v, password asked %d times, ctx %v", err, calls.Load(), ctx.Err())
	}
}

func parentOf(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
