package link

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// cutGaps returns frame as Pieces whose gaps are copies of the ranges cuts
// (in order, within the body), taken out of the buffer.
func cutGaps(frame []byte, cuts [][2]int) wire.Pieces {
	var p wire.Pieces
	from := 0
	for _, c := range cuts {
		p.Buf = append(p.Buf, frame[from:c[0]]...)
		p.Gaps = append(p.Gaps, wire.Gap{At: len(p.Buf), B: bytes.Clone(frame[c[0]:c[1]])})
		from = c[1]
	}
	p.Buf = append(p.Buf, frame[from:]...)
	return p
}

// TestLink_SendPiecesFromTheCallersSlice: frames sent in pieces, chunked
// or not, arrive as the frames they make, over every transport (writev
// where the link has a descriptor, one buffer where it has none), with
// small frames from another goroutine only ever between whole frames'
// chunk streams; and SendPieces is done with the caller's slices when it
// returns: each gap is overwritten at once, while the kernel (a 64 KiB
// pipe here) has taken only part of the frame and the rest waits in the
// queue.
func TestLink_SendPiecesFromTheCallersSlice(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, _, _, hb := linkPair(t, ct, Config{}, Config{})
			if a.Gathers() != (ct.name != "net.Pipe") {
				t.Fatalf("Gathers() = %v", a.Gathers())
			}
			const bigs, smalls = 10, 200
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range smalls {
					if err := a.Send(frameOf(testKind, []byte{byte(i), 's'}), []Mode{Inline, Queued}[i%2]); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			var want [][]byte
			for i := range bigs {
				n := []int{100 << 10, 600 << 10}[i%2] + i*1000 // one chunk, five
				body := make([]byte, n)
				for j := range body {
					body[j] = byte(j*7 + i)
				}
				frame := frameOf(testKind, body)
				want = append(want, frame)
				h := wire.HeaderSize
				p := cutGaps(frame, [][2]int{{h + 10, h + n/3}, {h + n/3 + 1, h + n - 5}})
				if i%3 == 0 {
					time.Sleep(30 * time.Microsecond) // idle: written inline
				}
				if err := a.SendPieces(context.Background(), p, []Mode{Inline, Queued, Bounded}[i%3]); err != nil {
					t.Fatal(err)
				}
				for _, g := range p.Gaps {
					clear(g.B) // the caller reuses its slices
				}
			}
			<-done
			asm := wire.NewAssembler(wire.DefaultMaxFrame)
			var got [][]byte
			for n := 0; n < smalls || len(got) < bigs; {
				c := recvWithin(t, hb.frames, waitLong, "frame")
				switch wire.Header(c).Kind() {
				case wire.KindChunk:
					whole, ok, err := asm.Add(wire.Frame{Raw: c})
					if err != nil {
						t.Fatalf("chunk stream broken after %d frames: %v", len(got), err)
					}
					if ok {
						got = append(got, append([]byte(nil), whole.Raw...))
					}
				default:
					if len(c) > 100 {
						got = append(got, c) // one chunk's worth: not chunked
					} else {
						n++
					}
				}
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d: %d bytes, differs from the %d sent", i, len(got[i]), len(want[i]))
				}
			}
		})
	}
}
