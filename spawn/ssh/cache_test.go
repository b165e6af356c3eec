package ssh_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/boottest"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
)

// TestSSH_CachePruned: TestCommand_CachePruned (spawn/command) over the
// real sshd on 127.0.0.1, in the default cache directory
// ($XDG_CACHE_HOME/spindle): the unused old and least recently used
// versions go, the one a running context runs stays, the bound holds.
func TestSSH_CachePruned(t *testing.T) {
	day := 24 * time.Hour
	srv, xdg := sshServer(t, sshtest.Config{})
	cache := filepath.Join(xdg, "spindle")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	logs := boottest.NewPruneLog()
	root := newRoot(t, slog.New(logs))
	ctx := testCtx(t, 3*time.Minute)
	v1, inUse, size1 := boottest.FabricateVersion(t, cache, 1<<10, 60*day)
	_, aged, _ := boottest.FabricateVersion(t, cache, 2<<10, 45*day)
	_, lru, _ := boottest.FabricateVersion(t, cache, 3<<10, 20*day)
	_, recent, size4 := boottest.FabricateVersion(t, cache, 4<<10, 3*day)

	old := sshOpts(srv, "old")
	old.Binaries, old.Cache = []*spawn.Binary{v1}, spawn.CachePolicy{Off: true}
	a := startSSH(t, root, old)
	if !a.Info().Boot.CacheHit {
		t.Fatalf("the old version was not found in the cache: %+v", a.Info().Boot)
	}
	boottest.SetAge(t, inUse, 60*day)

	self, _ := spawn.Self()
	selfSize, _ := self.Size()
	bound := size1 + selfSize + size4 + 1<<10
	opts := sshOpts(srv, "new")
	opts.Cache = spawn.CachePolicy{MaxAge: 30 * day, MaxBytes: bound, Keep: 1}
	b := startSSH(t, root, opts)
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
	if _, err := actors.Request[*Pong](ctx, root, echoIn(t, a), &Ping{N: 1}); err != nil {
		t.Errorf("the old child: %v", err)
	}
	t.Logf("prune record: %v", rec)
}

func mustDigest(t testing.TB, b *spawn.Binary) string {
	t.Helper()
	d, err := b.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
