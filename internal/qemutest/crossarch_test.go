package qemutest_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/internal/qemutest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
	"github.com/spindle-go/spindle/supervision"
)

// Messages between the linux/amd64 test process and its contexts on the
// emulated arm64 CPU (this test package, built for linux/arm64 on demand).
type (
	Ping struct {
		N       int
		Delay   time.Duration // answer after this long
		NoUname bool          // do not run uname (benchmarks)
	}
	Pong struct {
		N              int
		Machine        string // `uname -m` run in the context
		GOARCH         string
		Pid            int
		Hostname       string
		MachineFailure string
	}
)

func setup(n *actors.Node) error {
	if err := actors.RegisterType[Ping](n, "qemutest.Ping"); err != nil {
		return err
	}
	if err := actors.RegisterType[Pong](n, "qemutest.Pong"); err != nil {
		return err
	}
	n.RegisterKind("echo", actor.PropsFromFunc(func(c actor.Context) {
		m, ok := c.Message().(*Ping)
		if !ok {
			return
		}
		host, _ := os.Hostname()
		pong := &Pong{N: m.N, GOARCH: runtime.GOARCH, Pid: os.Getpid(), Hostname: host}
		if m.NoUname {
			c.Respond(pong)
			return
		}
		if out, err := exec.Command("uname", "-m").Output(); err != nil {
			pong.MachineFailure = err.Error()
		} else {
			pong.Machine = strings.TrimSpace(string(out))
		}
		if m.Delay > 0 {
			sender, sys := c.Sender(), c.ActorSystem()
			time.AfterFunc(m.Delay, func() { sys.Root.Send(sender, pong) })
			return
		}
		c.Respond(pong)
	}))
	return nil
}

var buildDir string

func TestMain(m *testing.M) {
	spawn.Main(setup) // in the arm64 container: serve the context
	code := func() int {
		dir, err := os.MkdirTemp("", "spindle-qemutest-builds-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		buildDir = dir
		return m.Run()
	}()
	os.Exit(code)
}

// builder builds this test binary for the containers' platform, once per
// test process (the go build cache makes it a link after the first time).
var builder = sync.OnceValue(func() *spawn.Builder {
	return spawn.NewBuilder(spawn.BuildOptions{CacheDir: buildDir})
})

// Generous bounds: every program in the container, the shell and the Go
// binary, runs under qemu-user; nothing here is a timed assertion.
const (
	startTimeout = 5 * time.Minute // includes the first build on demand
	bootTimeout  = 3 * time.Minute // the bootstrap under emulation, the build not counted
	detect       = 60 * time.Second
)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

func newRoot(t testing.TB) *actors.Node {
	t.Helper()
	h := slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})
	n, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

// arm64Options are the options of a context in a fresh container of the
// arm64 busybox image: no binary on offer for linux/arm64, so the
// bootstrap asks the builder.
func arm64Options(t *testing.T, e *containertest.Engine, img, name string) docker.Options {
	return docker.Options{
		Common:        spawn.Common{Name: name, Grace: 5 * time.Second},
		Bootstrap:     spawn.Bootstrap{Build: builder(), Timeout: bootTimeout},
		TargetOptions: docker.TargetOptions{CLI: e.Path, Image: img, RunArgs: e.RunDefaults()},
	}
}

func setupArm64(t *testing.T) (*containertest.Engine, string) {
	t.Helper()
	a := qemutest.RequireArm64(t)
	e := containertest.Docker(t)
	return e, e.BusyboxImageOf(t, qemutest.ImageRepo, a.Busybox)
}

func startArm64(t *testing.T, root *actors.Node, o docker.Options) *spawn.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	begin := time.Now()
	p, err := docker.Start(ctx, root, o)
	if err != nil {
		t.Fatalf("docker.Start in the arm64 container: %v", err)
	}
	b := p.Info().Boot
	t.Logf("%s up in %v: platform %s, built %v (waited %v), uploaded %d bytes %s, bootstrap %v (upload and verification %v), handshake %v",
		o.Name, time.Since(begin).Round(time.Millisecond), b.Platform, b.Built, b.Build.Round(time.Millisecond),
		b.Uploaded, b.Codec, b.Bootstrap.Round(time.Millisecond), b.Upload.Round(time.Millisecond), b.Handshake.Round(time.Millisecond))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func checkArm64(t *testing.T, pong *Pong) {
	t.Helper()
	if pong.Machine != "aarch64" || pong.GOARCH != "arm64" {
		t.Fatalf("the context reports uname -m %q (%s), GOARCH %q; want aarch64, arm64", pong.Machine, pong.MachineFailure, pong.GOARCH)
	}
}

// TestArm64_Container starts contexts from this linux/amd64 root in
// containers whose image holds only an arm64 busybox: the bootstrap sees
// linux/arm64, the builder builds this test package for it, and the
// context answers requests from the emulated CPU; then once more with
// that binary supplied in Bootstrap.Binaries instead.
func TestArm64_Container(t *testing.T) {
	e, img := setupArm64(t)
	root := newRoot(t)
	p := startArm64(t, root, arm64Options(t, e, img, "arm64-1"))
	if b := p.Info().Boot; b.Platform != "linux/arm64" || !b.Built || b.CacheHit {
		t.Fatalf("bootstrap %+v: want linux/arm64, built on demand, uploaded", b)
	}
	ctx := ctxFor(t, 2*time.Minute)
	pid, err := p.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if pong.N != i {
			t.Fatalf("reply %d to request %d", pong.N, i)
		}
		checkArm64(t, pong)
	}
	// A second context shares the build: nothing is compiled again.
	q := startArm64(t, root, arm64Options(t, e, img, "arm64-2"))
	if !q.Info().Boot.Built {
		t.Errorf("second context: %+v", q.Info().Boot)
	}
	qpid, err := q.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	pong, err := actors.Request[*Pong](ctx, root, qpid, &Ping{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkArm64(t, pong)

	// The same binary supplied instead (its platform read from the file):
	// the bootstrap picks it for linux/arm64 and asks no builder.
	built, err := builder().Binary(ctx, "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	o := arm64Options(t, e, img, "arm64-supplied")
	o.Build, o.Binaries = nil, []*spawn.Binary{spawn.NewBinary(built.Path(), "")}
	r := startArm64(t, root, o)
	if b := r.Info().Boot; b.Platform != "linux/arm64" || b.Built {
		t.Errorf("supplied binary: %+v", b)
	}
	rpid, err := r.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	if pong, err = actors.Request[*Pong](ctx, root, rpid, &Ping{N: 1}); err != nil {
		t.Fatal(err)
	}
	checkArm64(t, pong)
}

// TestArm64_KillIsDead: `docker kill` of the arm64 container fails a
// request under way with ErrContextDead and fires the watch.
func TestArm64_KillIsDead(t *testing.T) {
	e, img := setupArm64(t)
	root := newRoot(t)
	p := startArm64(t, root, arm64Options(t, e, img, "arm64-kill"))
	ctx := ctxFor(t, 3*time.Minute)
	pid, err := p.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	watched := watch(root, pid)
	pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{})
	if err != nil {
		t.Fatal(err)
	}
	checkArm64(t, pong)
	failed := make(chan error, 1)
	go func() {
		_, err := actors.Request[*Pong](ctx, root, pid, &Ping{Delay: 10 * time.Minute})
		failed <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the request leave
	e.Command(t, "kill", p.Info().Host)
	select {
	case err := <-failed:
		var de *actors.DeadError
		if !errors.Is(err, actors.ErrContextDead) || !errors.As(err, &de) {
			t.Fatalf("request error %v, want ErrContextDead", err)
		}
		t.Logf("IS_DEAD reason: %s", de.Reason)
	case <-time.After(detect):
		t.Fatalf("pending request still waiting %v after docker kill", detect)
	}
	select {
	case m := <-watched:
		if m.Why != actor.TerminatedReason_AddressTerminated {
			t.Errorf("Terminated %v, want AddressTerminated", m)
		}
	case <-time.After(detect):
		t.Fatal("no Terminated after docker kill")
	}
	select {
	case <-p.Dead():
	case <-time.After(detect):
		t.Fatal("Dead not closed")
	}
}

// TestArm64_SupervisedRestart: a supervisor restarts the arm64 context
// after `docker kill`, in a new container with a new context ID, whose
// echo actor answers from the emulated CPU again.
func TestArm64_SupervisedRestart(t *testing.T) {
	e, img := setupArm64(t)
	root := newRoot(t)
	sup, err := supervision.Start(t.Context(), root, supervision.Config{
		Name:   "arm64",
		Policy: supervision.Policy{Strategy: supervision.OneForOne, MaxRestarts: 3, Period: 10 * time.Minute},
		Children: []supervision.ContextSpec{{
			Name: "emulated",
			Start: func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
				return docker.Start(ctx, n, arm64Options(t, e, img, name))
			},
			Actors:       []supervision.ActorSpec{{Kind: "echo", Name: "echo"}},
			StartTimeout: startTimeout,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = sup.Stop(ctx)
	})
	ctx := ctxFor(t, 2*startTimeout)
	var first supervision.ChildInfo
	waitFor(t, startTimeout, "the first incarnation", func() bool {
		first, _ = sup.Child("emulated")
		return first.Up
	})
	pong, err := actors.Request[*Pong](ctx, root, first.PIDs["echo"], &Ping{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkArm64(t, pong)
	box := first.Context.(*spawn.Process).Info().Host
	e.Command(t, "kill", box)
	var second supervision.ChildInfo
	waitFor(t, startTimeout, "the restart", func() bool {
		second, _ = sup.Child("emulated")
		return second.Up && second.ID != first.ID
	})
	again, err := actors.Request[*Pong](ctx, root, second.PIDs["echo"], &Ping{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkArm64(t, again)
	if again.Hostname == pong.Hostname {
		t.Errorf("restarted in the same container %s", pong.Hostname)
	}
	if b := second.Context.(*spawn.Process).Info().Boot; b.Platform != "linux/arm64" {
		t.Errorf("restart on %s", b.Platform)
	}
}

// watch returns a channel that receives the Terminated of pid.
func watch(root *actors.Node, pid *actor.PID) <-chan *actor.Terminated {
	ch := make(chan *actor.Terminated, 1)
	ready := make(chan struct{})
	root.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
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

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestArm64_BuildThroughIntermediate: the root's Builder through Via. A
// local intermediate (this linux/amd64 test binary, with no Builder and
// no arm64 binary) starts a context in the arm64 container; its bootstrap
// needs linux/arm64, the intermediate asks the root, the root builds this
// test package for linux/arm64 and offers it, and the intermediate
// fetches it from the root by SHA-256 (verified, cached) and uploads it.
// The context answers from the emulated CPU.
func TestArm64_BuildThroughIntermediate(t *testing.T) {
	e, img := setupArm64(t)
	root := newRoot(t)
	ctx := ctxFor(t, startTimeout+time.Minute)
	hop, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "hop", Grace: 5 * time.Second,
		Env: []string{spawn.BinaryCacheEnv + "=" + t.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	o := arm64Options(t, e, img, "arm64-via")
	o.Via = hop
	p := startArm64(t, root, o)
	b := p.Info().Boot
	st := spawn.BinaryStatsOf(root)
	if b.Platform != "linux/arm64" || !b.Built || p.Info().Via != hop.ID() || st.Served == 0 {
		t.Fatalf("bootstrap %+v via %d, root served %d bytes: want linux/arm64 built at the root, fetched by the intermediate %d",
			b, p.Info().Via, st.Served, hop.ID())
	}
	t.Logf("the root served %d bytes (zstd) in %d chunks to the intermediate", st.Served, st.Chunks)
	pid, err := p.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkArm64(t, pong)
}
