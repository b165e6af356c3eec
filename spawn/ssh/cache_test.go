package ssh_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
)

// (Helpers copied from spawn/command/cache_test.go.)

// fabricateVersion writes a "version" of the test binary into dir under
// its cache name: the same program with pad bytes appended (another
// digest and size; it runs the same), last used age ago.
func fabricateVersion(t testing.TB, dir string, pad int, age time.Duration) (*spawn.Binary, string, int64) {
	t.Helper()
	self, err := spawn.Self()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := filepath.Join(dir, ".fabricating")
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write(make([]byte, pad)); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	b := spawn.NewBinary(tmp, runtime.GOOS+"/"+runtime.GOARCH)
	d, err := b.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size, _ := b.Size()
	name := filepath.Join(dir, "spindle-"+d)
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
	setAge(t, name, age)
	return spawn.NewBinary(name, runtime.GOOS+"/"+runtime.GOARCH), name, size
}

func setAge(t testing.TB, path string, age time.Duration) {
	t.Helper()
	at := time.Now().Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// pruneLog waits for the "cache pruned" record a child forwards for a
// directory.
type pruneLog struct {
	mu   sync.Mutex
	recs []map[string]string
	got  chan struct{}
}

func newPruneLog() *pruneLog { return &pruneLog{got: make(chan struct{}, 16)} }

func (l *pruneLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *pruneLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "cache pruned" {
		return nil
	}
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	select {
	case l.got <- struct{}{}:
	default:
	}
	return nil
}
func (l *pruneLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *pruneLog) WithGroup(string) slog.Handler      { return l }

func (l *pruneLog) wait(t testing.TB, ctx context.Context, dir string) map[string]string {
	t.Helper()
	for {
		l.mu.Lock()
		for _, r := range l.recs {
			if r["dir"] == dir {
				l.mu.Unlock()
				return r
			}
		}
		l.mu.Unlock()
		select {
		case <-l.got:
		case <-ctx.Done():
			t.Fatalf("no cache pruned record for %s from a child", dir)
		}
	}
}

func present(path string) bool { _, err := os.Lstat(path); return err == nil }

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
	logs := newPruneLog()
	root := newRoot(t, slog.New(logs))
	ctx := testCtx(t, 3*time.Minute)
	v1, inUse, size1 := fabricateVersion(t, cache, 1<<10, 60*day)
	_, aged, _ := fabricateVersion(t, cache, 2<<10, 45*day)
	_, lru, _ := fabricateVersion(t, cache, 3<<10, 20*day)
	_, recent, size4 := fabricateVersion(t, cache, 4<<10, 3*day)

	old := sshOpts(srv, "old")
	old.Binaries, old.Cache = []*spawn.Binary{v1}, spawn.CachePolicy{Off: true}
	a := startSSH(t, root, old)
	if !a.Info().Boot.CacheHit {
		t.Fatalf("the old version was not found in the cache: %+v", a.Info().Boot)
	}
	setAge(t, inUse, 60*day)

	self, _ := spawn.Self()
	selfSize, _ := self.Size()
	bound := size1 + selfSize + size4 + 1<<10
	opts := sshOpts(srv, "new")
	opts.Cache = spawn.CachePolicy{MaxAge: 30 * day, MaxBytes: bound, Keep: 1}
	b := startSSH(t, root, opts)
	rec := logs.wait(t, ctx, cache)
	if b.Info().Boot.CacheHit {
		t.Fatal("the new child's binary was cached already")
	}
	selfPath := filepath.Join(cache, "spindle-"+mustDigest(t, self))
	for path, want := range map[string]bool{inUse: true, aged: false, lru: false, recent: true, selfPath: true} {
		if present(path) != want {
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
