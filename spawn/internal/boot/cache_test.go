package boot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/platform"
)

var t0 = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestPlanPrune(t *testing.T) {
	day := 24 * time.Hour
	bin := func(name string, size int64, age time.Duration, inUse bool) CacheEntry {
		return CacheEntry{Name: name, Size: size, LastUse: t0.Add(-age), InUse: inUse}
	}
	for _, c := range []struct {
		name    string
		entries []CacheEntry
		p       CachePolicy
		remove  []string
		bytes   int64
		over    bool
	}{
		{"age: the old go, the newest two stay",
			[]CacheEntry{bin("a", 10, 1*day, false), bin("b", 10, 40*day, false), bin("c", 10, 50*day, false), bin("d", 10, 60*day, false)},
			CachePolicy{}, []string{"c", "d"}, 20, false},
		{"keep: the two most recent stay however old",
			[]CacheEntry{bin("a", 10, 40*day, false), bin("b", 10, 50*day, false), bin("c", 10, 60*day, false)},
			CachePolicy{}, []string{"c"}, 20, false},
		{"in use stays however old",
			[]CacheEntry{bin("a", 10, 1*day, false), bin("b", 10, 2*day, false), bin("old", 10, 90*day, true)},
			CachePolicy{}, nil, 30, false},
		{"size: least recently used first, in use kept",
			[]CacheEntry{bin("a", 40, 1*day, false), bin("b", 40, 2*day, true), bin("c", 40, 3*day, false), bin("d", 40, 4*day, false)},
			CachePolicy{MaxBytes: 100, Keep: -1}, []string{"d", "c"}, 80, false},
		{"size: over when what is left is in use",
			[]CacheEntry{bin("a", 80, 1*day, true), bin("b", 80, 2*day, true), bin("c", 10, 3*day, false)},
			CachePolicy{MaxBytes: 100, Keep: -1}, []string{"c"}, 160, true},
		{"grace: a binary used minutes ago stays",
			[]CacheEntry{bin("fresh", 100, time.Minute, false), bin("b", 10, 2*day, false)},
			CachePolicy{MaxBytes: 50, Keep: -1}, []string{"b"}, 100, true},
		{"no bounds", []CacheEntry{bin("a", 1<<40, 9000*day, false)}, CachePolicy{MaxAge: -1, MaxBytes: -1, Keep: -1}, nil, 1 << 40, false},
		{"temps: stale ones go, fresh ones stay, never counted",
			[]CacheEntry{{Name: "t1", Size: 5, LastUse: t0.Add(-2 * day), Temp: true}, {Name: "t2", Size: 5, LastUse: t0.Add(-time.Hour), Temp: true}},
			CachePolicy{MaxBytes: 1}, []string{"t1"}, 0, false},
	} {
		plan := PlanPrune(c.entries, c.p, t0)
		got := slices.Clone(plan.Remove)
		sort.Strings(got)
		want := slices.Clone(c.remove)
		sort.Strings(want)
		if !slices.Equal(got, want) || plan.Bytes != c.bytes || plan.Over != c.over {
			t.Errorf("%s: remove %v bytes %d over %v; want %v %d %v", c.name, plan.Remove, plan.Bytes, plan.Over, c.remove, c.bytes, c.over)
		}
	}
}

func TestCachePolicy_EncodeParse(t *testing.T) {
	for _, p := range []CachePolicy{{}, {Off: true}, {MaxAge: time.Hour, MaxBytes: 5, Keep: 1, Every: time.Minute},
		{MaxAge: -1, MaxBytes: -1, Keep: -1}} {
		got, err := ParseCachePolicy(p.Encode())
		if err != nil || got != p.Resolved() {
			t.Errorf("%+v -> %q -> %+v, %v", p, p.Encode(), got, err)
		}
	}
	if got, err := ParseCachePolicy(""); err != nil || got != (CachePolicy{}).Resolved() {
		t.Errorf("empty: %+v %v", got, err)
	}
	for _, bad := range []string{"on", "age=1", "bytes=1,age=1,keep=1,every=1", "age=x,bytes=1,keep=1,every=1",
		"age=1,bytes=1,keep=1,every=0", "age=0,bytes=1,keep=1,every=1", "age=1,bytes=1,keep=-1,every=1",
		"age=99999999999999,bytes=1,keep=1,every=1", "age=1,bytes=-2,keep=1,every=1", "age=1,bytes=1,keep=1,every=1,x=1"} {
		if _, err := ParseCachePolicy(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseCachePolicy(f *testing.F) {
	for _, s := range []string{"", "off", CachePolicy{}.Encode(), "age=-1,bytes=-1,keep=0,every=1", "age=1,bytes=2,keep=3,every=4x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCachePolicy(s)
		if err != nil {
			return
		}
		again, err := ParseCachePolicy(p.Encode())
		if err != nil || again != p {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, p, p.Encode(), again, err)
		}
	})
}

func TestClassifyName(t *testing.T) {
	d := digestOf("x")
	for name, want := range map[string][2]bool{
		"spindle-" + d:                  {true, false},
		"spindle-" + strings.ToUpper(d): {false, false},
		"spindle-" + d[:63]:             {false, false},
		"spindle-" + d + "x":            {false, false},
		".spindle-" + d + ".0a1b2c.tmp": {true, true},
		".spindle-" + d + ".123456.tmp": {true, true},
		".spindle-" + d + ".tok.tmp.in": {true, true},
		".spindle-" + d + "..tmp":       {false, false},
		".spindle-" + d + ".a/b.tmp":    {false, false},
		".probe-4711":                   {true, true},
		".probe-":                       {false, true},
		".probe-x":                      {false, true},
		".spindle-prune":                {false, false},
		"notes.txt":                     {false, false},
		"spindle-":                      {false, false},
	} {
		ours, temp := classifyName(name)
		if ours != want[0] || (ours && temp != want[1]) {
			t.Errorf("%q: ours %v temp %v, want %v", name, ours, temp, want)
		}
	}
}

// cacheDir is a private directory with binaries of the given ages.
func cacheDir(t *testing.T, ages map[string]time.Duration) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	names := map[string]string{}
	for label, age := range ages {
		name := "spindle-" + digestOf(label)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Repeat(label, 1000)), 0o700); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
		names[label] = name
	}
	return dir, names
}

func exists(dir, name string) bool {
	_, err := os.Lstat(filepath.Join(dir, name))
	return err == nil
}

// TestPruneCache_HostileDirectory: links, FIFOs, directories and foreign
// names in the cache directory, even named like our binaries and older
// than any bound, are never followed nor removed; a binary locked by
// another open of the file (as a running context locks it) stays; the
// old and unused go.
func TestPruneCache_HostileDirectory(t *testing.T) {
	day := 24 * time.Hour
	dir, names := cacheDir(t, map[string]time.Duration{"new": time.Hour, "mid": 2 * day, "old": 60 * day, "older": 70 * day, "held": 80 * day})
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-100 * day)
	_ = os.Chtimes(outside, long, long)
	hostile := map[string]func(string) error{
		"spindle-" + digestOf("link"):               func(p string) error { return os.Symlink(outside, p) },
		"spindle-" + digestOf("dirlink"):            func(p string) error { return os.Symlink(filepath.Dir(outside), p) },
		"spindle-" + digestOf("fifo"):               func(p string) error { return syscall.Mkfifo(p, 0o600) },
		"spindle-" + digestOf("dir"):                func(p string) error { return os.Mkdir(p, 0o700) },
		"spindle-" + strings.ToUpper(digestOf("u")): func(p string) error { return os.WriteFile(p, []byte("x"), 0o600) },
		"notes.txt":                              func(p string) error { return os.WriteFile(p, []byte("x"), 0o600) },
		".spindle-" + digestOf("t") + ".tok.tmp": func(p string) error { return os.Symlink(outside, p) },
	}
	for name, mk := range hostile {
		if err := mk(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		_ = os.Chtimes(filepath.Join(dir, name), long, long) // follows a link: the target stays old too
	}
	held, err := LockInUse(filepath.Join(dir, names["held"]))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	at := time.Now().Add(-80 * day) // LockInUse marked it used now; make it look old again
	_ = os.Chtimes(filepath.Join(dir, names["held"]), at, at)
	rep, err := PruneCache(context.Background(), dir, CachePolicy{Keep: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"old", "older"} {
		if exists(dir, names[label]) {
			t.Errorf("%s (unused, beyond MaxAge) was kept", label)
		}
	}
	for _, label := range []string{"new", "mid", "held"} {
		if !exists(dir, names[label]) {
			t.Errorf("%s was removed", label)
		}
	}
	for name := range hostile {
		if !exists(dir, name) {
			t.Errorf("hostile entry %s was removed", name)
		}
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "keep me" {
		t.Errorf("the link's target: %q, %v", b, err)
	}
	if len(rep.Removed) != 2 || rep.Kept != 3 || len(rep.Failed) != 0 {
		t.Errorf("report %+v", rep)
	}
}

// TestPruneCache_StampAndConcurrentPruners: many pruners at once on one
// directory: one prunes, the others find it busy or recent; a second
// round within Every does nothing; a directory others may write is
// refused.
func TestPruneCache_StampAndConcurrentPruners(t *testing.T) {
	dir, names := cacheDir(t, map[string]time.Duration{"a": time.Hour, "b": 40 * 24 * time.Hour, "c": 50 * 24 * time.Hour})
	var wg sync.WaitGroup
	reps := make([]PruneReport, 8)
	errs := make([]error, 8)
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = PruneCache(context.Background(), dir, CachePolicy{Keep: 1}, time.Now())
		}()
	}
	wg.Wait()
	ran := 0
	for i, r := range reps {
		if errs[i] != nil {
			t.Fatalf("pruner %d: %v", i, errs[i])
		}
		switch r.Skipped {
		case "":
			ran++
		case "busy", "recent":
		default:
			t.Errorf("pruner %d skipped: %q", i, r.Skipped)
		}
	}
	if ran != 1 || exists(dir, names["b"]) || exists(dir, names["c"]) || !exists(dir, names["a"]) {
		t.Fatalf("%d pruners ran (want 1); reports %+v", ran, reps)
	}
	// Within Every: nothing.
	rep, err := PruneCache(context.Background(), dir, CachePolicy{Keep: 1}, time.Now())
	if err != nil || rep.Skipped != "recent" {
		t.Fatalf("second round: %+v, %v; want recent", rep, err)
	}
	// Held by another pruner: busy.
	f, err := os.Open(filepath.Join(dir, stampName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := platform.TryLock(f, false); err != nil {
		t.Fatal(err)
	}
	rep, err = PruneCache(context.Background(), dir, CachePolicy{Keep: 1}, time.Now().Add(2*time.Hour))
	if err != nil || rep.Skipped != "busy" {
		t.Fatalf("while locked: %+v, %v; want busy", rep, err)
	}
	_ = platform.Unlock(f)
	if rep, err := PruneCache(context.Background(), dir, CachePolicy{Keep: 1}, time.Now().Add(2*time.Hour)); err != nil || rep.Skipped != "" {
		t.Fatalf("after Every: %+v, %v; want a prune", rep, err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if _, err := PruneCache(context.Background(), dir, CachePolicy{}, time.Now().Add(4*time.Hour)); err == nil {
		t.Fatal("a world-writable directory was pruned")
	}
}

// TestPruneCache_StaleTemps: temporary uploads and probes older than a
// day go; a fresh one (an upload under way) stays.
func TestPruneCache_StaleTemps(t *testing.T) {
	dir := t.TempDir()
	d := digestOf("t")
	old := time.Now().Add(-2 * StaleTemp)
	for name, at := range map[string]time.Time{".spindle-" + d + ".ab12.tmp": old, ".spindle-" + d + ".cd34.tmp": time.Now(),
		".probe-4711": old} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = os.Chtimes(p, at, at)
	}
	if _, err := PruneCache(context.Background(), dir, CachePolicy{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if exists(dir, ".spindle-"+d+".ab12.tmp") || exists(dir, ".probe-4711") || !exists(dir, ".spindle-"+d+".cd34.tmp") {
		t.Fatal("stale temporaries kept or a fresh one removed")
	}
}
