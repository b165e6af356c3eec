package transfer_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
)

// Figures of docs/benchmarks.md ("Files and streams"). Run them side by
// side in one run, as that page says:
//
//	go test -run '^$' -bench 'Stream|Floor|PushFile|Scp' -benchtime 20x -count 6 ./actors/transfer

const benchSize = 64 << 20

// BenchmarkStream_ChildPipes pulls 64 MiB per op from a child process over
// its link pipes, through the "generate" handler (no checksum, no disk).
func BenchmarkStream_ChildPipes(b *testing.B) {
	root := newRoot(b, actors.Config{})
	c := spawnChild(b, root, "bench")
	benchPull(b, root, c.ID())
}

// BenchmarkStream_InProcess is the same with both contexts in this
// process (over os.Pipe pairs): no process boundary.
func BenchmarkStream_InProcess(b *testing.B) {
	root, c := pair(b)
	benchPull(b, root, c.node.ID())
}

func benchPull(b *testing.B, root *actors.Node, id uint32) {
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := tr(root).Open(timeout(b), id, "generate")
		if err != nil {
			b.Fatal(err)
		}
		if err := binary.Write(s, binary.BigEndian, int64(benchSize)); err != nil {
			b.Fatal(err)
		}
		_ = s.CloseWrite()
		n, err := io.CopyBuffer(io.Discard, s, buf)
		if err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		_ = s.Close()
	}
}

// floorEnv makes this test binary a floor writer: it writes the given
// number of bytes to descriptor 3 and exits.
const floorEnv = "TRANSFER_TEST_FLOOR"

func init() {
	if v := os.Getenv(floorEnv); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		w := os.NewFile(3, "floor")
		_, err := io.CopyBuffer(w, io.LimitReader(pattern{}, n), make([]byte, 256<<10))
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// BenchmarkFloor_ChildPipes is the raw bulk floor of the same path: a
// child process (this binary) writes 64 MiB per op into a 1 MiB pipe with
// blocking 256 KiB writes and this process reads it; no framing, no
// protocol. The process start is outside the timer.
func BenchmarkFloor_ChildPipes(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		growPipe(w)
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), floorEnv+"="+strconv.Itoa(benchSize))
		cmd.ExtraFiles = []*os.File{w}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		_ = w.Close()
		b.StartTimer()
		n, err := io.CopyBuffer(io.Discard, r, buf)
		b.StopTimer()
		_ = r.Close()
		if err := cmd.Wait(); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		b.StartTimer()
	}
}

func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ (Linux); elsewhere a no-op error
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSz, 1<<20)
}

// BenchmarkPushFile_ChildPipes pushes a 64 MiB file per op to a child
// process over its pipes: read, SHA-256 on both sides, temporary file,
// fsync, rename.
func BenchmarkPushFile_ChildPipes(b *testing.B) {
	root := newRoot(b, actors.Config{})
	c := spawnChild(b, root, "bench")
	benchPush(b, root, c.ID())
}

func benchPush(b *testing.B, root *actors.Node, id uint32) {
	dir := b.TempDir()
	src := benchFile(b, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr(root).PushFile(ctx, id, src, filepath.Join(dir, fmt.Sprintf("dst-%d", i%2)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFile writes the 64 MiB source file of the file benchmarks.
func benchFile(b *testing.B, dir string) string {
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, io.LimitReader(pattern{}, benchSize)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return src
}

// BenchmarkPushFile_InProcess is BenchmarkPushFile_ChildPipes with both
// contexts in this process: no process boundary, for profiles.
func BenchmarkPushFile_InProcess(b *testing.B) {
	root, c := pair(b)
	benchPush(b, root, c.node.ID())
}
