// Package boottest holds the test helpers that the method packages' tests
// share for what the bootstrap does the same for every method: the upload's
// progress (spawn.Bootstrap.Progress and the transfer records) and the
// binary cache's upkeep (spawn.Bootstrap.Cache: versions of the test
// binary fabricated in a cache directory, their ages, the "cache pruned"
// records a child forwards).
package boottest

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

	"github.com/spindle-go/spindle/spawn"
)

// FabricateVersion writes a "version" of the test binary into dir under
// its cache name: the same program with pad bytes appended (another
// digest and size; it runs the same), last used age ago.
func FabricateVersion(t testing.TB, dir string, pad int, age time.Duration) (*spawn.Binary, string, int64) {
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
	SetAge(t, name, age)
	return spawn.NewBinary(name, runtime.GOOS+"/"+runtime.GOARCH), name, size
}

func SetAge(t testing.TB, path string, age time.Duration) {
	t.Helper()
	at := time.Now().Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// PruneLog is an slog.Handler that waits for the "cache pruned" record a
// child forwards for a directory.
type PruneLog struct {
	mu   sync.Mutex
	recs []map[string]string
	got  chan struct{}
}

func NewPruneLog() *PruneLog { return &PruneLog{got: make(chan struct{}, 16)} }

func (l *PruneLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *PruneLog) Handle(_ context.Context, r slog.Record) error {
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
func (l *PruneLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *PruneLog) WithGroup(string) slog.Handler      { return l }

func (l *PruneLog) Wait(t testing.TB, ctx context.Context, dir string) map[string]string {
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

// Count is the number of "cache pruned" records seen so far.
func (l *PruneLog) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

// Present reports whether path exists (a link is not followed).
func Present(path string) bool { _, err := os.Lstat(path); return err == nil }
