package actors_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// Blob is a message with a large []byte, which a context decodes aliasing
// the frame it reassembled from chunks.
type Blob struct {
	N    int
	Data []byte
}

// blobRoot is a root that registers Blob and collects every Blob its
// "blobs" actor gets; a raw peer attached to it registers Blob too.
func blobRoot(t *testing.T) (*actors.Node, *rawPeer, *actors.ChildLink, <-chan *Blob) {
	t.Helper()
	root := newRoot(t, actors.Config{Setup: setups(typeSetup, func(n *actors.Node) error {
		return actors.RegisterType[Blob](n, "test.Blob")
	})})
	got := make(chan *Blob, 16)
	props := actor.PropsFromFunc(func(c actor.Context) {
		if b, ok := c.Message().(*Blob); ok {
			got <- b
		}
	})
	if _, err := root.System().Root.SpawnNamed(props, "blobs"); err != nil {
		t.Fatal(err)
	}
	p, link := attachRaw(t, root, "blobber")
	if err := wire.Register[Blob](p.reg, "test.Blob"); err != nil {
		t.Fatal(err)
	}
	return root, p, link, got
}

func blobData(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ byte(i>>17) ^ seed // chunks differ from each other
	}
	return b
}

// TestChunks_AliasedPayloadNeverReused: a Blob reassembled from chunks
// keeps its bytes while more chunked frames arrive on the same link (its
// Data aliases the frame, which the assembler never reuses), and an append
// to it never writes into the frame.
func TestChunks_AliasedPayloadNeverReused(t *testing.T) {
	_, p, link, got := blobRoot(t)
	const n = 1 << 20
	var kept []*Blob
	for i := 0; i < 4; i++ {
		whole := p.userFrame(p.spec(wire.KindUser, p.parent), "blobs", &Blob{N: i, Data: blobData(n, byte(i))})
		p.writeRaw(wire.AppendChunks(nil, whole, 0))
		b := recv(t, got, waitLong, "blob")
		if b.N != i || !bytes.Equal(b.Data, blobData(n, byte(i))) {
			t.Fatalf("blob %d arrived changed", i)
		}
		if cap(b.Data) != len(b.Data) {
			t.Fatalf("blob %d: cap %d, len %d: an append would write into the frame", i, cap(b.Data), len(b.Data))
		}
		kept = append(kept, b)
	}
	for i, b := range kept {
		if !bytes.Equal(b.Data, blobData(n, byte(i))) {
			t.Fatalf("blob %d changed after later frames arrived", i)
		}
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
}

// TestChunks_HostileStreams: chunks out of order, a chunked frame that
// announces another length than it carries, a stream whose source sends a
// second START: each is dropped or delivered as what arrived (never a
// panic, never more than announced), the link stays up, and a good stream
// after them arrives intact.
func TestChunks_HostileStreams(t *testing.T) {
	_, p, link, got := blobRoot(t)
	const n = 600 << 10
	frame := func(i int) []byte {
		return p.userFrame(p.spec(wire.KindUser, p.parent), "blobs", &Blob{N: i, Data: blobData(n, byte(i))})
	}
	chunksOf := func(whole []byte) [][]byte {
		var out [][]byte
		stream := wire.AppendChunks(nil, whole, 0)
		for len(stream) > 0 {
			k := wire.Header(stream).FrameLen()
			out = append(out, stream[:k])
			stream = stream[k:]
		}
		return out
	}
	join := func(cs ...[]byte) []byte { return bytes.Join(cs, nil) }

	// Out of order: the same length, other bytes; msgpack still decodes
	// (a bin of the right length), so it is delivered as it arrived.
	cs := chunksOf(frame(1))
	cs[1], cs[2] = cs[2], cs[1]
	p.writeRaw(join(cs...))
	if b := recv(t, got, waitLong, "out-of-order blob"); len(b.Data) != n || bytes.Equal(b.Data, blobData(n, 1)) {
		t.Fatalf("out-of-order blob: %d bytes, equal to the original %v", len(b.Data), bytes.Equal(b.Data, blobData(n, 1)))
	}

	// Announces more than it carries (a little: broken at its END; far
	// over the frame limit: at its START), or less (broken when the chunks
	// pass what it announced).
	for _, delta := range []int{5000, 1 << 30, -5000} {
		lie := frame(2)
		binary.BigEndian.PutUint32(lie[20:], uint32(wire.Header(lie).BodyLen()+delta))
		cs = chunksOf(frame(2))
		head := chunksOf(lie)[0]
		p.writeRaw(join(append([][]byte{head}, cs[1:]...)...))
		p.expectDead(fmt.Sprintf("lying length %+d", delta), func(d wire.DeadReply) bool { return d.Code == wire.DeadRejected })
	}

	// A second START in the middle of a stream.
	cs = chunksOf(frame(3))
	p.writeRaw(join(cs[0], cs[1], cs[0]))
	p.expectDead("second START", func(d wire.DeadReply) bool {
		return d.Code == wire.DeadRejected && strings.Contains(d.Reason, "START")
	})
	p.writeRaw(join(cs[2:]...)) // the rest of the broken stream: discarded

	// A good stream arrives intact after all of that.
	p.writeRaw(wire.AppendChunks(nil, frame(4), 0))
	if b := recv(t, got, waitLong, "good blob"); b.N != 4 || !bytes.Equal(b.Data, blobData(n, 4)) {
		t.Fatal("good blob after hostile streams arrived changed")
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
}

// TestChunks_TruncatedChunkClosesLink: a link that ends in the middle of a
// chunk (the peer died while sending it) goes down as any truncated frame
// does, with nothing delivered and nothing held.
func TestChunks_TruncatedChunkClosesLink(t *testing.T) {
	_, p, link, got := blobRoot(t)
	whole := p.userFrame(p.spec(wire.KindUser, p.parent), "blobs", &Blob{N: 1, Data: blobData(500<<10, 1)})
	stream := wire.AppendChunks(nil, whole, 0)
	p.writeRaw(stream[:2*(wire.DefaultChunkSize+wire.HeaderSize)+1000])
	_ = p.conn.Close()
	<-link.Done()
	select {
	case b := <-got:
		t.Fatalf("a truncated stream delivered blob %d", b.N)
	default:
	}
}
