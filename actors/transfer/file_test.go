package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/transfer"
)

func TestFile_PushPullRoundTrip(t *testing.T) {
	root, c := pair(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := make([]byte, 3<<20+5)
	_, _ = pattern{}.Read(data)
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o751); err != nil {
		t.Fatal(err)
	}
	var calls int
	var last int64
	dst := filepath.Join(dir, "dst.bin")
	res, err := tr(root).PushFile(timeout(t), c.node.ID(), src, dst, &transfer.FileOptions{
		Progress: func(done, total int64) {
			calls++
			if total != int64(len(data)) || done < last {
				t.Errorf("progress %d/%d after %d", done, total, last)
			}
			last = done
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != int64(len(data)) || res.SHA256 != sha256.Sum256(data) {
		t.Fatalf("result %d %x", res.Size, res.SHA256)
	}
	if calls < 12 || last != int64(len(data)) {
		t.Errorf("%d progress calls, last %d", calls, last)
	}
	checkFile(t, dst, data, 0o751)
	// Pull it back, to a file and to a writer.
	back := filepath.Join(dir, "back.bin")
	if _, err := tr(root).PullFile(timeout(t), c.node.ID(), dst, back, nil); err != nil {
		t.Fatal(err)
	}
	checkFile(t, back, data, 0o751)
	var buf bytes.Buffer
	res, err = tr(root).Pull(timeout(t), c.node.ID(), dst, &buf, nil)
	if err != nil || !bytes.Equal(buf.Bytes(), data) || res.SHA256 != sha256.Sum256(data) {
		t.Fatalf("Pull: %d bytes, %v", buf.Len(), err)
	}
	noTemps(t, dir)
}

func checkFile(t testing.TB, path string, want []byte, mode fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, want %d", path, len(got), len(want))
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != mode {
		t.Fatalf("%s: mode %v, want %v", path, st.Mode().Perm(), mode)
	}
}

// noTemps checks that no temporary file is left in dir.
func noTemps(t testing.TB, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, ".*.spindle-*"))
	if len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

func TestFile_PushReaderAndOverwrite(t *testing.T) {
	root, c := pair(t)
	dst := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(dst, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tr(root).Push(timeout(t), c.node.ID(), bytes.NewReader(nil), dst, nil); err != nil {
		t.Fatal(err)
	}
	checkFile(t, dst, nil, 0o644) // empty, default mode
	data := []byte("hello, world\n")
	if _, err := tr(root).Push(timeout(t), c.node.ID(), bytes.NewReader(data), dst, &transfer.FileOptions{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, dst, data, 0o600)
}

func TestFile_Errors(t *testing.T) {
	root, c := pair(t)
	dir := t.TempDir()
	ctx := timeout(t)
	id := c.node.ID()
	_, err := tr(root).Push(ctx, id, bytes.NewReader([]byte("x")), filepath.Join(dir, "no", "such", "dir"), nil)
	var fe *transfer.FileError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &fe) || fe.Context != id {
		t.Errorf("push into a missing directory: %v", err)
	}
	// The destination fails at once while the sender still has 16 MiB to
	// send: the sender gets the destination's error, not the reset.
	_, err = tr(root).Push(ctx, id, io.LimitReader(pattern{}, 16<<20), filepath.Join(dir, "no", "dir"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("big push into a missing directory: %v", err)
	}
	if _, err := tr(root).Pull(ctx, id, filepath.Join(dir, "missing"), io.Discard, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pull of a missing file: %v", err)
	}
	if _, err := tr(root).Push(ctx, id, bytes.NewReader(nil), "relative/path", nil); !errors.Is(err, transfer.ErrPath) {
		t.Errorf("relative path: %v", err)
	}
	if _, err := tr(root).Push(ctx, id, bytes.NewReader(nil), "/"+string(bytes.Repeat([]byte("a"), transfer.MaxPath)), nil); !errors.Is(err, transfer.ErrPath) {
		t.Errorf("long path: %v", err)
	}
	if _, err := tr(root).Push(ctx, id, bytes.NewReader(nil), dir, nil); err == nil {
		t.Error("push over a directory succeeded")
	}
	if _, err := tr(root).Pull(ctx, id, dir, io.Discard, nil); err == nil {
		t.Error("pull of a directory succeeded")
	}
	// A child may not push to, nor pull from, its parent by default.
	_, err = tr(c.node).Push(ctx, root.ID(), bytes.NewReader([]byte("evil")), filepath.Join(dir, "evil"), nil)
	if !errors.Is(err, transfer.ErrRefused) {
		t.Errorf("child pushes to the root: %v", err)
	}
	if _, err := tr(c.node).Pull(ctx, root.ID(), "/etc/hostname", io.Discard, nil); !errors.Is(err, transfer.ErrRefused) {
		t.Errorf("child pulls from the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "evil")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused push left a file: %v", err)
	}
	noTemps(t, dir)
}

func TestFile_AllowFilesWidens(t *testing.T) {
	cfg := actors.Config{Setup: setupWith(transfer.Config{AllowFiles: transfer.Anyone})}
	root := newRoot(t, cfg)
	c := attach(t, root, "worker", cfg)
	dst := filepath.Join(t.TempDir(), "up")
	if _, err := tr(c.node).Push(timeout(t), root.ID(), bytes.NewReader([]byte("up")), dst, nil); err != nil {
		t.Fatalf("push to the root with AllowFiles Anyone: %v", err)
	}
	checkFile(t, dst, []byte("up"), 0o644)
}

func TestFile_PeerDeathMidPushLeavesNoFile(t *testing.T) {
	root, c := pair(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, "partial")
	r := &killAfter{r: io.LimitReader(pattern{}, 64<<20), n: 2 << 20, kill: c.kill}
	_, err := tr(root).Push(timeout(t), c.node.ID(), r, dst, nil)
	if !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("push to a context that died: %v", err)
	}
	shutdown(t, c.node) // the handler has returned: its temp file is gone
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("partial push left %s: %v", dst, err)
	}
	noTemps(t, dir)
}

// killAfter calls kill once n bytes were read.
type killAfter struct {
	r    io.Reader
	n    int64
	kill func()
	done int64
}

func (k *killAfter) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if k.done += int64(n); k.done >= k.n && k.kill != nil {
		k.kill()
		k.kill = nil
	}
	return n, err
}

// TestFile_RealChildProcess pushes to and pulls from a child process.
func TestFile_RealChildProcess(t *testing.T) {
	root := newRoot(t, actors.Config{})
	c := spawnChild(t, root, "files")
	dir := t.TempDir()
	data := make([]byte, 5<<20)
	_, _ = pattern{}.Read(data)
	dst := filepath.Join(dir, "remote")
	if _, err := tr(root).Push(timeout(t), c.ID(), bytes.NewReader(data), dst, &transfer.FileOptions{Mode: 0o700}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, dst, data, 0o700)
	back := filepath.Join(dir, "back")
	if _, err := tr(root).PullFile(timeout(t), c.ID(), dst, back, nil); err != nil {
		t.Fatal(err)
	}
	checkFile(t, back, data, 0o700)
}

// TestFile_GiBBoundedMemory moves 1 GiB, generated on the fly, to a child
// process and back from it, and measures the heap high-water of both
// sides: each stays within a bound that does not grow with the size (64
// MiB here; 7 to 24 MiB measured).
func TestFile_GiBBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB")
	}
	const size = 1 << 30
	const bound = 64 << 20 // a sixteenth of what moves; measured: 7 to 24 MiB
	root := newRoot(t, actors.Config{})
	c := spawnChild(t, root, "gib")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	heap, err := tr(root).Open(ctx, c.ID(), "heap")
	if err != nil {
		t.Fatal(err)
	}
	defer heap.Close()
	childHigh := func(op byte) uint64 {
		if _, err := heap.Write([]byte{op}); err != nil {
			t.Fatal(err)
		}
		var v uint64
		if err := binary.Read(heap, binary.BigEndian, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	stop := make(chan struct{})
	defer close(stop)
	go sampleHeap(stop)
	dst := filepath.Join(t.TempDir(), "gib")
	for _, dir := range []string{"push", "pull"} {
		resetHeap()
		rootStart, childStart := highHeap(), childHigh('r')
		var err error
		var res transfer.Result
		began := time.Now()
		if dir == "push" {
			res, err = tr(root).Push(ctx, c.ID(), io.LimitReader(pattern{}, size), dst, nil)
		} else {
			res, err = tr(root).Pull(ctx, c.ID(), dst, io.Discard, nil)
		}
		if err != nil || res.Size != size {
			t.Fatalf("%s: %d bytes, %v", dir, res.Size, err)
		}
		rootHigh, childHighNow := highHeap(), childHigh('g')
		t.Logf("%s 1 GiB in %v: root heap %d -> %d MiB high, child %d -> %d MiB high", dir, time.Since(began).Round(time.Millisecond),
			rootStart>>20, rootHigh>>20, childStart>>20, childHighNow>>20)
		if rootHigh > rootStart+bound || childHighNow > childStart+bound {
			t.Errorf("%s: heap grew beyond %d MiB: root %d -> %d, child %d -> %d", dir, bound>>20,
				rootStart, rootHigh, childStart, childHighNow)
		}
	}
}
