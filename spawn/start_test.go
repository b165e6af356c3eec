package spawn_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/internal/execrun"
	"github.com/spindle-go/spindle/spawn/runner"
)

// shTarget runs the bootstrap straight on this host: the plainest target
// there is (no prefix), through the same boot code as every method.
func shTarget() *execrun.Target {
	return &execrun.Target{Desc: runner.Info{Method: "exec", Host: "localhost"}, Signals: true}
}

func startBooted(t testing.TB, root *actors.Node, name string, tg runner.Target, b spawn.Bootstrap) *spawn.Process {
	t.Helper()
	// Generous: the first cold start of a process compresses the test
	// binary, which takes many seconds under -race on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if b.Timeout == 0 {
		b.Timeout = 3 * time.Minute
	}
	p, err := spawn.Start(ctx, root, tg, spawn.Common{Name: name, Grace: time.Second}, b)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return p
}

func TestStart_ColdThenWarmCache(t *testing.T) {
	root := newRoot(t, nil)
	dir := filepath.Join(t.TempDir(), "cache")
	ctx := testCtx(t, 4*time.Minute)
	for i, wantHit := range []bool{false, true} {
		p := startBooted(t, root, "booted", shTarget(), spawn.Bootstrap{CacheDirs: []string{dir}})
		info := p.Info()
		if info.Boot.CacheHit != wantHit || (info.Boot.Uploaded > 0) == wantHit {
			t.Fatalf("start %d: cache hit %v, uploaded %d; want hit %v", i, info.Boot.CacheHit, info.Boot.Uploaded, wantHit)
		}
		if info.Method != "exec" || info.Pid <= 0 || info.Boot.Platform != runtime.GOOS+"/"+runtime.GOARCH {
			t.Fatalf("info %+v", info)
		}
		pid, err := p.Spawn(ctx, "echo", "echo")
		if err != nil {
			t.Fatal(err)
		}
		pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 7, Payload: make([]byte, 1<<20)})
		if err != nil || pong.N != 7 || pong.Pid != info.Pid || len(pong.Payload) != 1<<20 {
			t.Fatalf("pong %v, %v; want N=7 from pid %d", pong, err, info.Pid)
		}
		if err := p.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		if err := p.Wait(ctx); err != nil {
			t.Fatalf("exit: %v, want status 0", err)
		}
	}
	var entries []os.DirEntry
	all, _ := os.ReadDir(dir)
	for _, e := range all {
		if e.Name() != ".spindle-prune" { // the prune stamp (docs/bootstrap.md, "Cache upkeep")
			entries = append(entries, e)
		}
	}
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "spindle-") {
		t.Fatalf("cache holds %v, want one binary and no temporary files", entries)
	}
}

func TestStart_KilledChildReportsExitStatus(t *testing.T) {
	root := newRoot(t, nil)
	ctx := testCtx(t, 30*time.Second)
	p := startBooted(t, root, "victim", shTarget(), spawn.Bootstrap{CacheDirs: []string{t.TempDir()}})
	if err := p.Signal(ctx, runner.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Dead():
	case <-ctx.Done():
		t.Fatal("no IS_DEAD after SIGKILL")
	}
	var re *spawn.RemoteExitError
	if !errors.As(p.DeadReason(), &re) || re.Signal != "KILL" {
		t.Fatalf("reason %v, want a *RemoteExitError for SIGKILL", p.DeadReason())
	}
	if code, ok := spawn.ExitStatus(p.DeadReason()); !ok || code != 137 {
		t.Fatalf("ExitStatus = %d, %v; want 137", code, ok)
	}
	if err := p.Kill(); err != nil { // after death: a no-op
		t.Fatal(err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown of a child killed by a signal: %v", err)
	}
}

func TestStart_NoShell(t *testing.T) {
	root := newRoot(t, nil)
	ctx := testCtx(t, 30*time.Second)
	// Through a prefix (env), as through docker exec or sudo: the prefix
	// runs, the shell does not (exit status 127).
	tg := &execrun.Target{Prefix: []string{"env"}, Desc: runner.Info{Method: "command", Host: "localhost"}}
	_, err := spawn.Start(ctx, root, tg, spawn.Common{}, spawn.Bootstrap{Shell: "/nonexistent/sh"})
	if !errors.Is(err, spawn.ErrNoShell) {
		t.Fatalf("error %v, want ErrNoShell", err)
	}
}

func TestStart_DeadlineKillsTheBootstrap(t *testing.T) {
	root := newRoot(t, nil)
	// A "shell" that never answers: the start must end at its deadline.
	hang := filepath.Join(t.TempDir(), "hang")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	begin := time.Now()
	_, err := spawn.Start(ctx, root, shTarget(), spawn.Common{}, spawn.Bootstrap{Shell: hang})
	if !errors.Is(err, spawn.ErrBootstrapTimeout) {
		t.Fatalf("error %v, want ErrBootstrapTimeout", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Fatalf("the failed start took %v", d)
	}
}

// TestStart_NoCodecLinked: this test binary links no codec (it does not
// import spawn/compress, and spawn itself links none), so a bootstrap
// uploads the raw binary, and a binary shipped through an intermediate
// crosses the link to it raw: a program that only starts local contexts
// still ships binaries, uncompressed.
func TestStart_NoCodecLinked(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "hop", spawn.Pipes)
	ctx := testCtx(t, 4*time.Minute)
	other := copiedSelf(t)
	p, err := spawn.Start(ctx, root, travellingSh{shTarget()}, spawn.Common{Name: "behind", Grace: time.Second, Via: a},
		spawn.Bootstrap{Binaries: []*spawn.Binary{other}, CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if b := p.Info().Boot; b.Codec != "raw" || b.CacheHit {
		t.Fatalf("boot info %+v, want a raw upload", b)
	}
	pid, err := p.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	if pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 3}); err != nil || pong.N != 3 {
		t.Fatalf("pong %v, %v", pong, err)
	}
	size, _ := other.Size()
	if st := spawn.BinaryStatsOf(root); st.Served != size {
		t.Fatalf("root served %d bytes, want the raw binary (%d)", st.Served, size)
	}
	if _, err := other.Encoded("zstd"); !errors.Is(err, spawn.ErrNoCodec) {
		t.Fatalf("zstd form without a codec linked: %v, want ErrNoCodec", err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// copiedSelf is a copy of the test binary with trailing bytes: another
// digest, for this platform, that an intermediate has to fetch. The bytes
// are new in every run, so that no cache a run before left on this machine
// (the same test binary, after a change elsewhere) already holds it.
func copiedSelf(t *testing.T) *spawn.Binary {
	t.Helper()
	self, err := spawn.Self()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self.Path())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other.test")
	if err := os.WriteFile(path, append(data, "\nanother build "+rand.Text()+"\n"...), 0o700); err != nil {
		t.Fatal(err)
	}
	b := spawn.NewBinary(path, runtime.GOOS+"/"+runtime.GOARCH)
	if err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	return b
}

// travellingSh is shTarget, able to travel through Via as "test.sh".
type travellingSh struct{ *execrun.Target }

func (travellingSh) DescribeVia(*spawn.ViaPrompts) (spawn.TargetSpec, error) {
	return spawn.NewTargetSpec("test.sh", struct{}{})
}

func init() {
	spawn.RegisterViaTarget("test.sh", func(context.Context, *struct{}) (runner.Target, error) { return shTarget(), nil })
}
