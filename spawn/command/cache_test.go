package command_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/boottest"
	"github.com/spindle-go/spindle/internal/platform"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
)

// TestCommand_CachePruned: a cache directory holds four versions of the
// program (real executables, of different sizes and ages); a running
// child runs the oldest. A new child started with a policy (30 days,
// a size bound, keep 1) prunes the directory once it is up: the unused
// version beyond the age goes, then the least recently used one while
// the size is over the bound; the version in use stays however old, and
// so do the new child's and the recent one; the bound holds.
func TestCommand_CachePruned(t *testing.T) {
	day := 24 * time.Hour
	logs := boottest.NewPruneLog()
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = root.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cache := t.TempDir()
	v1, inUse, size1 := boottest.FabricateVersion(t, cache, 1<<10, 60*day)
	_, aged, _ := boottest.FabricateVersion(t, cache, 2<<10, 45*day)
	_, lru, _ := boottest.FabricateVersion(t, cache, 3<<10, 20*day)
	_, recent, size4 := boottest.FabricateVersion(t, cache, 4<<10, 3*day)

	// The oldest version runs (a cache hit), with pruning off.
	a, err := command.Start(ctx, root, command.Options{Argv: []string{"env"}, Common: spawn.Common{Name: "old"},
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{cache}, Binaries: []*spawn.Binary{v1}, Cache: spawn.CachePolicy{Off: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Info().Boot.CacheHit {
		t.Fatalf("the old version was not found in the cache: %+v", a.Info().Boot)
	}
	boottest.SetAge(t, inUse, 60*day) // it marked itself used: make it look old again

	self, _ := spawn.Self()
	selfSize, _ := self.Size()
	bound := size1 + selfSize + size4 + 1<<10
	b, err := command.Start(ctx, root, command.Options{Argv: []string{"env"}, Common: spawn.Common{Name: "new"},
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{cache},
			Cache: spawn.CachePolicy{MaxAge: 30 * day, MaxBytes: bound, Keep: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := logs.Wait(t, ctx, cache)
	if b.Info().Boot.CacheHit {
		t.Fatal("the new child's binary was cached already")
	}
	selfPath := filepath.Join(cache, "spindle-"+mustDigest(t, self))
	for path, want := range map[string]bool{inUse: true, aged: false, lru: false, recent: true, selfPath: true} {
		if boottest.Present(path) != want {
			t.Errorf("%s: present %v, want %v (record %v)", filepath.Base(path)[:20], !want, want, rec)
		}
	}
	var total int64
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && len(e.Name()) == 72 {
			total += fi.Size()
		}
	}
	if total > bound || rec["removed"] != "2" || rec["over"] != "false" {
		t.Errorf("binaries %d bytes, bound %d; record %v", total, bound, rec)
	}
	// The running old version still works.
	if h := where(t, ctx, root, a); h.Pid != a.Info().Pid {
		t.Errorf("the old child answers as %d, want %d", h.Pid, a.Info().Pid)
	}
	t.Logf("prune record: %v", rec)
	for _, c := range []spawn.Child{a, b} {
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

func mustDigest(t testing.TB, b *spawn.Binary) string {
	t.Helper()
	d, err := b.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestVia_HopCachePruned: an intermediate's hop cache (BinaryCacheEnv)
// holds old versions nobody uses; once it has fetched a binary for a
// start behind it, it prunes the directory under the policy in its
// environment: the old versions go, the fetched binary stays, locked in
// use (a pruner's exclusive lock on it fails) while the intermediate runs.
func TestVia_HopCachePruned(t *testing.T) {
	day := 24 * time.Hour
	logs := boottest.NewPruneLog()
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = root.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	hop := t.TempDir()
	_, old1, _ := boottest.FabricateVersion(t, hop, 1<<10, 40*day)
	_, old2, _ := boottest.FabricateVersion(t, hop, 2<<10, 50*day)
	other := otherBinary(t)
	policy := spawn.CachePolicy{MaxAge: 30 * day, Keep: 1}
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second,
		Env: []string{spawn.BinaryCacheEnv + "=" + hop, spawn.CachePolicyEnv + "=" + policy.Encode()}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := command.Start(ctx, root, command.Options{Common: spawn.Common{Name: "inner", Grace: time.Second, Via: a},
		Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{Binaries: []*spawn.Binary{other},
			CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	rec := logs.Wait(t, ctx, hop)
	if rec["dir"] != hop || rec["removed"] != "2" {
		t.Fatalf("prune record %v, want 2 removed in %s", rec, hop)
	}
	fetched := filepath.Join(hop, "spindle-"+mustDigest(t, other))
	if boottest.Present(old1) || boottest.Present(old2) || !boottest.Present(fetched) {
		t.Fatalf("hop cache after the prune: old %v %v, fetched %v", boottest.Present(old1), boottest.Present(old2), boottest.Present(fetched))
	}
	f, err := os.Open(fetched)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := platform.TryLock(f, false); !errors.Is(err, platform.ErrLocked) {
		t.Fatalf("exclusive lock on the served binary: %v, want ErrLocked (held in use)", err)
	}
	for _, c := range []spawn.Child{p, a} {
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

// TestCommand_TwoChildrenPruneOnce: two children started at once from one
// cache directory (a real sh each) both try to prune it: one does (one
// "cache pruned" record, the old unused version gone), the other finds it
// busy or recent; both run.
func TestCommand_TwoChildrenPruneOnce(t *testing.T) {
	day := 24 * time.Hour
	logs := boottest.NewPruneLog()
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = root.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cache := t.TempDir()
	_, old, _ := boottest.FabricateVersion(t, cache, 1<<10, 60*day)
	self, _ := spawn.Self()
	// The children's own binary, cached already (a warm start each).
	if err := os.Link(self.Path(), filepath.Join(cache, "spindle-"+mustDigest(t, self))); err != nil {
		data, rerr := os.ReadFile(self.Path()) // another file system: a copy
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err := os.WriteFile(filepath.Join(cache, "spindle-"+mustDigest(t, self)), data, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	opts := command.Options{Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{CacheDirs: []string{cache},
		Cache: spawn.CachePolicy{MaxAge: 30 * day, Keep: 1}}}
	kids := make([]spawn.Child, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kids[i], errs[i] = command.Start(ctx, root, opts)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec := logs.Wait(t, ctx, cache)
	for _, k := range kids { // both up, both answer: their prunes are over
		where(t, ctx, root, k)
		if err := k.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	n := logs.Count()
	if n != 1 || rec["removed"] != "1" || boottest.Present(old) {
		t.Fatalf("%d prune records (want 1), last %v; old version present %v", n, rec, boottest.Present(old))
	}
}
