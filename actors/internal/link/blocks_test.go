package link

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/spindle-go/spindle/wire"
)

// TestBlockQueue_WholeFramesInOrder: frames queued across many blocks come
// out of take in order, each whole in one block, and a second burst of the
// same size reuses the blocks the first one gave back.
func TestBlockQueue_WholeFramesInOrder(t *testing.T) {
	var q blockQueue
	rng := rand.New(rand.NewPCG(1, 2))
	burst := func() [][]byte {
		var frames [][]byte
		for i := range 2000 {
			body := make([]byte, rng.IntN(3000))
			f := frameOf(testKind, append(binary.BigEndian.AppendUint32(nil, uint32(i)), body...))
			frames = append(frames, f)
			q.append(wire.Pieces{Buf: f})
		}
		return frames
	}
	check := func(frames, blocks [][]byte) {
		t.Helper()
		i := 0
		for _, b := range blocks {
			for len(b) > 0 {
				n := wire.Header(b).FrameLen()
				if n > len(b) {
					t.Fatalf("frame %d is cut across blocks", i)
				}
				if !bytes.Equal(b[:n], frames[i]) {
					t.Fatalf("frame %d differs", i)
				}
				b, i = b[n:], i+1
			}
		}
		if i != len(frames) {
			t.Fatalf("%d frames out, %d queued", i, len(frames))
		}
	}
	frames := burst()
	if q.Len() == 0 || len(q.blocks) < 2 {
		t.Fatalf("%d bytes in %d blocks: the test needs several blocks", q.Len(), len(q.blocks))
	}
	blocks := q.take(nil)
	check(frames, blocks)
	if q.Len() != 0 {
		t.Fatalf("queue holds %d bytes after take", q.Len())
	}
	q.recycle(blocks, 64<<20)
	kept := q.freeN
	frames = burst()
	if q.freeN >= kept {
		t.Fatalf("the second burst used none of the %d bytes of blocks given back", kept)
	}
	check(frames, q.take(nil))
	q.release(0)
	if q.freeN != 0 || q.free != nil {
		t.Fatalf("release(0) kept %d bytes", q.freeN)
	}
}

// TestLink_MixedSizesInOrder: small frames, frames of several blocks sent
// as chunks, and frames with descriptors (where the link carries them),
// all queued behind a writer that is busy, reach the peer whole and in
// order.
func TestLink_MixedSizesInOrder(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, _, _, hb := linkPair(t, ct, Config{}, Config{})
			rng := rand.New(rand.NewPCG(3, 4))
			const n = 600
			sent := make([][]byte, 0, n)
			for i := range n {
				size := rng.IntN(2000)
				if i%100 == 7 {
					size = 300 << 10 // chunked: more than a block
				}
				body := append(binary.BigEndian.AppendUint32(nil, uint32(i)), make([]byte, size)...)
				f := frameOf(testKind, body)
				if ct.fds && i%50 == 3 {
					env := append(wire.AppendEnvelopeHead(nil, wire.Envelope{FDs: 1, Target: "t", Type: "T"}), 0xc0)
					f = wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Flags: wire.FlagFDs, Dst: 2, Src: 1, Auth: 1},
						nil, append(env, body...))
				}
				sent = append(sent, f)
				if ct.fds && i%50 == 3 {
					fd, err := dupCloexec(0)
					if err != nil {
						t.Fatal(err)
					}
					if err := a.SendFDs(f, []int{fd}, Queued); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := a.Send(f, Queued); err != nil {
					t.Fatal(err)
				}
			}
			next := 0
			for next < n {
				got := recvWithin(t, hb.frames, waitLong, "a frame")
				if wire.Header(got).Kind() == wire.KindChunk {
					continue // the pieces of a big frame; the fake handler sees them raw
				}
				want := sent[next]
				if !bytes.Equal(got[wire.HeaderSize:], want[wire.HeaderSize:]) {
					t.Fatalf("frame %d: got %d bytes starting %x, want frame %d", next, len(got), got[wire.HeaderSize:min(len(got), wire.HeaderSize+4)], next)
				}
				next++
				for next < n && len(sent[next]) > wire.DefaultChunkSize+wire.HeaderSize {
					next++ // arrives as CHUNK frames, skipped above
				}
			}
			for range len(hb.fds) {
				CloseFDs(<-hb.fds)
			}
		})
	}
}
