package actors

import (
	"testing"

	"github.com/spindle-go/spindle/wire"
)

// TestRelay_StreamHeadsBounded: a child that opens chunk streams through
// this context from many made-up sources, and never ends them, makes the
// relay table hold at most relayMax heads of at most relayHeadMax bytes
// of body each.
func TestRelay_StreamHeadsBounded(t *testing.T) {
	l := &link{}
	body := make([]byte, 3*wire.DefaultChunkSize)
	for src := uint32(1); src <= 4*relayMax; src++ {
		whole := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Dst: 9, Src: src, Auth: src}, nil, body)
		chunks := wire.AppendChunks(nil, whole, wire.DefaultChunkSize)
		first := wire.Frame{Raw: chunks[:wire.Header(chunks).FrameLen()]}
		if first.Header().Kind() != wire.KindChunk || first.Header().Flags()&wire.FlagStart == 0 {
			t.Fatalf("first chunk is %v with flags %x", first.Header().Kind(), first.Header().Flags())
		}
		l.relayed(first, false)
		if len(l.relay) > relayMax {
			t.Fatalf("%d streams tracked, bound %d", len(l.relay), relayMax)
		}
	}
	for src, st := range l.relay {
		if len(st.head) > wire.HeaderSize+relayHeadMax {
			t.Fatalf("head of stream %d holds %d bytes, bound %d", src, len(st.head), wire.HeaderSize+relayHeadMax)
		}
	}
}
