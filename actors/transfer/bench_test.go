package transfer_test

import (
	"encoding/binary"
	"io"
	"testing"

	"github.com/spindle-go/spindle/actors"
)

// BenchmarkStream_ChildPipes pulls b.N bytes... per op: 64 MiB from a
// real child process over its pipes, through the "generate" handler.
func BenchmarkStream_ChildPipes(b *testing.B) {
	root := newRoot(b, actors.Config{})
	c := spawnChild(b, root, "bench")
	const size = 64 << 20
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := tr(root).Open(timeout(b), c.ID(), "generate")
		if err != nil {
			b.Fatal(err)
		}
		if err := binary.Write(s, binary.BigEndian, int64(size)); err != nil {
			b.Fatal(err)
		}
		_ = s.CloseWrite()
		n, err := io.CopyBuffer(io.Discard, s, buf)
		if err != nil || n != size {
			b.Fatal(n, err)
		}
		_ = s.Close()
	}
}

// BenchmarkStream_InProcess is BenchmarkStream_ChildPipes with both
// contexts in this process (over os.Pipe pairs).
func BenchmarkStream_InProcess(b *testing.B) {
	root, c := pair(b)
	benchPull(b, root, c.node.ID())
}

func benchPull(b *testing.B, root *actors.Node, id uint32) {
	const size = 64 << 20
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := tr(root).Open(timeout(b), id, "generate")
		if err != nil {
			b.Fatal(err)
		}
		if err := binary.Write(s, binary.BigEndian, int64(size)); err != nil {
			b.Fatal(err)
		}
		_ = s.CloseWrite()
		n, err := io.CopyBuffer(io.Discard, s, buf)
		if err != nil || n != size {
			b.Fatal(n, err)
		}
		_ = s.Close()
	}
}
