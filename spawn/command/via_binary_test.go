package command_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
)

// otherBinary writes a second build of the test binary (the same program
// with trailing bytes: another digest, labelled for this platform), the
// stand-in for a binary supplied at the root for another platform.
func otherBinary(t *testing.T) *spawn.Binary {
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
	path := filepath.Join(t.TempDir(), "other.test")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if _, err := out.WriteString("\nanother build\n"); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	b := spawn.NewBinary(path, runtime.GOOS+"/"+runtime.GOARCH)
	if err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	return b
}

// encodedSize is the size of b's zstd form.
func encodedSize(t *testing.T, b *spawn.Binary) int64 {
	t.Helper()
	data, err := b.Encoded("zstd")
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(data))
}

// TestVia_BinaryFetchedOnceForNStarts: a binary supplied at the root
// crosses the link above the intermediate once for N concurrent starts
// behind it (each to a cold target cache, so each is uploaded by the
// intermediate from its own cache; a wrong file already under the digest's
// name in that cache is found out and replaced); a second intermediate whose cache
// directory already holds it (verified) fetches nothing.
func TestVia_BinaryFetchedOnceForNStarts(t *testing.T) {
	const n = 3
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	other := otherBinary(t)
	digest, _ := other.Digest()
	raw, _ := other.Size()
	size := encodedSize(t, other) // what crosses a link between hops
	cache := t.TempDir()
	// A file under the digest's name that is not the binary: verified,
	// found wrong, fetched again.
	if err := os.WriteFile(filepath.Join(cache, "spindle-"+digest), []byte("not it"), 0o700); err != nil {
		t.Fatal(err)
	}
	startBastion := func(name string) *spawn.Context {
		a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second,
			Env: []string{spawn.BinaryCacheEnv + "=" + cache}}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	startBehind := func(a spawn.Hop, name string) *spawn.Process {
		p, err := command.Start(ctx, root, command.Options{Common: spawn.Common{Name: name, Grace: time.Second, Via: a},
			Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{Binaries: []*spawn.Binary{other},
				CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute}})
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		if b := p.Info().Boot; b.CacheHit || b.Uploaded == 0 {
			t.Fatalf("%s: boot info %+v, want an upload by the intermediate", name, b)
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", where(t, ctx, root, p).Pid))
		if err != nil || filepath.Base(exe) != "spindle-"+digest {
			t.Fatalf("%s runs %q (%v), want the binary supplied at the root", name, exe, err)
		}
		return p
	}
	a := startBastion("bastion")
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			startBehind(a, fmt.Sprintf("inner-%d", i))
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	st := spawn.BinaryStatsOf(root)
	if st.Served != size {
		t.Fatalf("root served %d bytes for %d starts, want the binary once (%d)", st.Served, n, size)
	}
	t.Logf("cold: %d starts behind one intermediate, %d bytes in %d chunks over the link above it (binary %d bytes)", n, st.Served, st.Chunks, raw)
	b := startBastion("bastion-2") // same cache directory: warm
	startBehind(b, "inner-warm")
	if got := spawn.BinaryStatsOf(root).Served; got != size {
		t.Fatalf("root served %d bytes after a warm intermediate's start, want %d", got, size)
	}
}

// fakeArm64 returns a command prefix whose shell finds a uname that says
// "Linux aarch64": the bootstrap then needs a linux/arm64 binary, which
// nobody offered.
func fakeArm64(t *testing.T) []string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "uname"), []byte("#!/bin/sh\necho Linux aarch64\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"env", "PATH=" + dir + ":" + os.Getenv("PATH")}
}

// TestVia_BuildAtTheOrigin: Bootstrap.Build stays at the root; the
// intermediate's bootstrap meets a platform nobody offered (linux/arm64,
// by a uname that says so) and asks the root's Builder, whose typed error
// (no toolchain here: a go command that does not exist) comes back to the
// root. Without Build the same start is a platform mismatch. (The whole
// path, a build at the root run behind an intermediate under qemu, is
// internal/qemutest's TestArm64_BuildThroughIntermediate.)
func TestVia_BuildAtTheOrigin(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hop, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "hop", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	start := func(build *spawn.Builder) error {
		p, err := command.Start(ctx, root, command.Options{Common: spawn.Common{Via: hop}, Argv: fakeArm64(t),
			Bootstrap: spawn.Bootstrap{Build: build, CacheDirs: []string{t.TempDir()}}})
		if err == nil {
			_ = p.Kill()
			t.Fatal("started a linux/arm64 context without a binary")
		}
		return err
	}
	err = start(spawn.NewBuilder(spawn.BuildOptions{Go: "/nonexistent/go", CacheDir: t.TempDir()}))
	if !errors.Is(err, spawn.ErrNoToolchain) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Fatalf("build at the root without a toolchain: %v, want ErrNoToolchain naming linux/arm64", err)
	}
	if err := start(nil); !errors.Is(err, spawn.ErrPlatformMismatch) || errors.Is(err, spawn.ErrNoToolchain) {
		t.Fatalf("without Build: %v, want ErrPlatformMismatch", err)
	}
}

// The shapes of spindle.binary's get, as a hostile child sends them.
type (
	binGet struct {
		Digest string
		Off, N int64
	}
	binChunk struct {
		Platform string
		Size     int64
		Data     []byte
	}
	// BinAttack is run by a child against its parent: it reports what
	// each hostile ask got.
	BinAttack   struct{ Known string }
	BinAttacked struct {
		Unknown, Refused, Busy, Other int // of the many unknown asks at once
		Bad                           []string
		OtherErr                      string
		HugeLen                       int
	}
)

func binAttack(ctx context.Context, ep *calls.Endpoint, r *BinAttack) (*BinAttacked, error) {
	ps := ep.Node().Parents()
	parent := ps[len(ps)-1]
	get := func(d string, off, n int64) (*binChunk, error) {
		return calls.CallService[binGet, binChunk](ctx, ep, parent, "spindle.binary", "get", &binGet{Digest: d, Off: off, N: n})
	}
	out := &BinAttacked{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 200 { // unknown hashes, many at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := get(fmt.Sprintf("%064x", i+1), 0, 1<<20)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, spawn.ErrUnknownBinary):
				out.Unknown++
			case errors.Is(err, calls.ErrBusy), errors.Is(err, spawn.ErrBinaryBusy):
				out.Busy++
			case err == nil:
				out.Other += 1000
			default:
				out.Other++
				if out.OtherErr == "" {
					out.OtherErr = err.Error()
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range []binGet{{Digest: "../../etc/passwd"}, {Digest: strings.Repeat("A", 64), N: 1},
		{Digest: r.Known, Off: -1, N: 1}, {Digest: r.Known, Off: 1 << 50, N: 1}, {Digest: r.Known, N: 0}} {
		if _, err := get(c.Digest, c.Off, c.N); err == nil {
			out.Bad = append(out.Bad, fmt.Sprintf("%+v answered", c))
		}
	}
	c, err := get(r.Known, 0, 1<<40) // a huge range: cut to one chunk
	if err != nil {
		return nil, err
	}
	out.HugeLen = len(c.Data)
	return out, nil
}

// TestVia_HostileBinaryAsks: a child asking its parent for binaries gets
// only those the root offered: unknown hashes (200 at once) are refused
// or found busy, malformed asks and ranges fail, a huge range is cut to
// one chunk; the root serves no more than that chunk. The same asks of an
// intermediate are forwarded to the root (bounded) and leave nothing in
// its cache but what the root offered.
func TestVia_HostileBinaryAsks(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "hostile", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	other := otherBinary(t)
	// A via start offers the root's binaries (it fails: no such prefix).
	_, err = command.Start(ctx, root, command.Options{Common: spawn.Common{Via: a}, Argv: []string{"/nonexistent/prefix"},
		Bootstrap: spawn.Bootstrap{Binaries: []*spawn.Binary{other}}})
	if err == nil {
		t.Fatal("start through a prefix that does not exist succeeded")
	}
	known, _ := other.Digest()
	got, err := calls.Call[BinAttack, BinAttacked](ctx, calls.Of(root), a.ID(), "test.binAttack", &BinAttack{Known: known})
	if err != nil {
		t.Fatal(err)
	}
	if got.Unknown+got.Busy != 200 || got.Other != 0 || len(got.Bad) > 0 {
		t.Fatalf("hostile asks: %+v", got)
	}
	if got.HugeLen != 256<<10 {
		t.Fatalf("a huge range answered %d bytes, want one chunk (256 KiB)", got.HugeLen)
	}
	if st := spawn.BinaryStatsOf(root); st.Served != 256<<10 || st.Chunks != 1 {
		t.Fatalf("root served %+v, want one chunk", st)
	}
	t.Logf("200 unknown asks at once: %d unknown, %d busy", got.Unknown, got.Busy)

	// Behind an intermediate: b asks a, which forwards what it lacks to
	// the root (at most 4 digests at once); a keeps only what the root
	// offered, and nothing of the refused asks.
	cache := t.TempDir()
	mid, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "mid", Grace: time.Second,
		Env: []string{spawn.BinaryCacheEnv + "=" + cache}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "hostile-2", Grace: time.Second, Via: mid}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = calls.Call[BinAttack, BinAttacked](ctx, calls.Of(root), b.ID(), "test.binAttack", &BinAttack{Known: known})
	if err != nil {
		t.Fatal(err)
	}
	if got.Unknown+got.Busy != 200 || got.Other != 0 || len(got.Bad) > 0 || got.HugeLen != 256<<10 {
		t.Fatalf("hostile asks through an intermediate: %+v", got)
	}
	ents, err := os.ReadDir(cache)
	ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() == ".spindle-prune" }) // the prune stamp
	if err != nil || len(ents) != 1 || ents[0].Name() != "spindle-"+known {
		t.Fatalf("intermediate's cache %v (%v), want only the binary the root offered", ents, err)
	}
	t.Logf("through an intermediate, 200 unknown asks at once: %d unknown, %d busy", got.Unknown, got.Busy)
}

// TestVia_BinaryThroughAChain: root -> a -> b -> n contexts behind b, with
// a binary supplied at the root. b fetches it from a, which fetches it
// from the root (a forwards, caching it): each link above b carries it
// once; b uploads it (encoded) to each target.
func TestVia_BinaryThroughAChain(t *testing.T) {
	const n = 2
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	other := otherBinary(t)
	size := encodedSize(t, other)
	env := func() []string { return []string{spawn.BinaryCacheEnv + "=" + t.TempDir()} }
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "a", Grace: time.Second, Env: env()}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "b", Grace: time.Second, Env: env(), Via: a}})
	if err != nil {
		t.Fatal(err)
	}
	var uploaded int64
	for i := range n {
		p, err := command.Start(ctx, root, command.Options{Common: spawn.Common{Name: fmt.Sprintf("c-%d", i), Grace: time.Second, Via: b},
			Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{Binaries: []*spawn.Binary{other},
				CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute}})
		if err != nil {
			t.Fatalf("start %d behind b: %v", i, err)
		}
		uploaded += p.Info().Boot.Uploaded
	}
	stats := func(id uint32) *spawn.BinaryStats {
		st, err := calls.Call[struct{}, spawn.BinaryStats](ctx, calls.Of(root), id, "test.binStats", &struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	sa, sb, sr := stats(a.ID()), stats(b.ID()), spawn.BinaryStatsOf(root)
	if sr.Served != size || sa.Fetches != 1 || sa.Fetched != size || sa.Served != size || sb.Fetches != 1 || sb.Fetched != size || sb.Served != 0 {
		t.Fatalf("root %+v, a %+v, b %+v; want the %d bytes once over each link", sr, sa, sb, size)
	}
	var link uint64
	for _, l := range root.LinkStats() {
		if l.Peer == a.ID() {
			link = l.BytesOut
		}
	}
	t.Logf("%d contexts behind root->a->b: binary %d bytes zstd; root->a %d bytes served (%d bytes on the link, all traffic), a->b %d bytes, b->targets %d bytes (uploads)",
		n, size, sr.Served, link, sa.Served, uploaded)
}

// memfds lists the memory files (memfd) process pid holds open.
func memfds(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "/memfd:spindle-") {
			out = append(out, l)
		}
	}
	return out
}

// TestVia_BinaryCacheInMemory: an intermediate told to keep fetched
// binaries in memory (SPINDLE_BINARY_CACHE=memory), and one that can make
// no private directory at all (its cache and temporary directories lie
// under a regular file), fetch the root's binary into a memfd, once for
// two starts, and write no file; a memory cache bounded below the
// binary's size refuses the fetch with ErrBinaryCacheFull at the root,
// and one with room for one binary takes the first and refuses the second
// (the bound filled), keeping the first.
func TestVia_BinaryCacheInMemory(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	other := otherBinary(t)
	raw, _ := other.Size()
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hop := func(name string, env ...string) *spawn.Context {
		a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second, Env: env}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
		return a
	}
	behind := func(a spawn.Hop, name string, bin *spawn.Binary) (*spawn.Process, error) {
		return command.Start(ctx, root, command.Options{Common: spawn.Common{Name: name, Grace: time.Second, Via: a},
			Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{Binaries: []*spawn.Binary{bin},
				CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute}})
	}
	xdg := t.TempDir()
	for _, tc := range []struct {
		name   string
		env    []string
		starts int
	}{
		{"asked", []string{spawn.BinaryCacheEnv + "=" + spawn.BinaryCacheMemory, "XDG_CACHE_HOME=" + xdg}, 2},
		{"no directory", []string{spawn.BinaryCacheEnv + "=", "XDG_CACHE_HOME=" + blocker + "/cache", "HOME=" + blocker, "TMPDIR=" + blocker + "/tmp"}, 1},
	} {
		before := spawn.BinaryStatsOf(root).Served
		a := hop("mem-"+strings.ReplaceAll(tc.name, " ", "-"), tc.env...)
		for i := 0; i < tc.starts; i++ {
			p, err := behind(a, fmt.Sprintf("%s-%d", strings.ReplaceAll(tc.name, " ", "-"), i), other)
			if err != nil {
				t.Fatalf("%s: start %d: %v", tc.name, i, err)
			}
			if where(t, ctx, root, p).Pid != p.Info().Pid {
				t.Fatalf("%s: no answer", tc.name)
			}
			_ = p.Shutdown(ctx)
		}
		if got := memfds(t, a.Pid()); len(got) != 1 {
			t.Fatalf("%s: the intermediate holds memory files %q, want one", tc.name, got)
		}
		if served := spawn.BinaryStatsOf(root).Served - before; served != encodedSize(t, other) {
			t.Fatalf("%s: root served %d bytes for %d starts, want the binary once", tc.name, served, tc.starts)
		}
	}
	if ents, _ := os.ReadDir(xdg); len(ents) != 0 {
		t.Fatalf("the memory cache wrote %v", ents)
	}

	small := hop("mem-small", spawn.BinaryCacheEnv+"="+spawn.BinaryCacheMemory, spawn.BinaryCacheMaxEnv+"=1000000")
	if _, err := behind(small, "too-big", other); !errors.Is(err, spawn.ErrBinaryCacheFull) {
		t.Fatalf("a binary larger than the bound: %v, want ErrBinaryCacheFull", err)
	}
	if got := memfds(t, small.Pid()); len(got) != 0 {
		t.Fatalf("a refused fetch left memory files %q", got)
	}
	second := otherBinary(t) // the same bytes but for its trailer: another digest
	room := hop("mem-room", spawn.BinaryCacheEnv+"="+spawn.BinaryCacheMemory, fmt.Sprintf("%s=%d", spawn.BinaryCacheMaxEnv, raw+raw/2))
	if p, err := behind(room, "first", other); err != nil {
		t.Fatalf("the first binary: %v", err)
	} else {
		_ = p.Shutdown(ctx)
	}
	if _, err := behind(room, "second", secondBuild(t, second)); !errors.Is(err, spawn.ErrBinaryCacheFull) {
		t.Fatalf("a second binary past the bound: %v, want ErrBinaryCacheFull", err)
	}
	if got := memfds(t, room.Pid()); len(got) != 1 {
		t.Fatalf("after the refusal the intermediate holds %q, want the first binary only", got)
	}
}

// secondBuild is b with one more trailing byte: a third digest.
func secondBuild(t *testing.T, b *spawn.Binary) *spawn.Binary {
	t.Helper()
	f, err := os.OpenFile(b.Path(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("2"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	nb := spawn.NewBinary(b.Path(), runtime.GOOS+"/"+runtime.GOARCH)
	if err := nb.Prepare(); err != nil {
		t.Fatal(err)
	}
	return nb
}
