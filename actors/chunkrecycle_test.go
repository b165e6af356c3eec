package actors_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/msgptest"
	"github.com/spindle-go/spindle/wire"
)

// Keeper has hand-written msgp-style codecs whose UnmarshalMsg keeps its
// input: B aliases the payload it was decoded from (as msgp's zero-copy
// readers do). A frame decoded into a Keeper must never be recycled.
type Keeper struct {
	B []byte
}

// MarshalMsg writes B as one msgpack bin32.
func (k *Keeper) MarshalMsg(b []byte) ([]byte, error) {
	b = append(b, 0xc6)
	b = binary.BigEndian.AppendUint32(b, uint32(len(k.B)))
	return append(b, k.B...), nil
}

// UnmarshalMsg reads a bin32 and keeps a slice of b, without a copy.
func (k *Keeper) UnmarshalMsg(b []byte) ([]byte, error) {
	if len(b) < 5 || b[0] != 0xc6 {
		return b, errors.New("keeper: not a bin32")
	}
	n := int(binary.BigEndian.Uint32(b[1:]))
	if len(b)-5 < n {
		return b, errors.New("keeper: short")
	}
	k.B = b[5 : 5+n]
	return b[5+n:], nil
}

// recycleRoot is a root whose "got" actor collects every Keeper and
// msgptest.Small it is sent, with a raw peer attached that registers both.
func recycleRoot(t *testing.T) (*rawPeer, *actors.ChildLink, <-chan any) {
	t.Helper()
	root := newRoot(t, actors.Config{Setup: setups(typeSetup, func(n *actors.Node) error {
		return errors.Join(actors.RegisterType[Keeper](n, "test.Keeper"), actors.RegisterType[msgptest.Small](n, "test.GenSmall"))
	})})
	got := make(chan any, 16)
	props := actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *Keeper, *msgptest.Small:
			got <- m
		}
	})
	if _, err := root.System().Root.SpawnNamed(props, "got"); err != nil {
		t.Fatal(err)
	}
	p, link := attachRaw(t, root, "recycler")
	if err := errors.Join(wire.Register[Keeper](p.reg, "test.Keeper"), wire.Register[msgptest.Small](p.reg, "test.GenSmall")); err != nil {
		t.Fatal(err)
	}
	return p, link, got
}

// TestChunks_RecycledFrameNeverAliased: messages reassembled from chunks
// keep their bytes while more chunked frames of the same size arrive,
// both for a generated codec that copies (whose frames are recycled) and
// for an UnmarshalMsg that keeps its input (whose frames must not be):
// a frame recycled while a value aliases it would be overwritten by the
// next one.
func TestChunks_RecycledFrameNeverAliased(t *testing.T) {
	p, link, got := recycleRoot(t)
	const n = 1 << 20
	var kept []any
	for i := 0; i < 8; i++ {
		var m any = &msgptest.Small{ID: int64(i), Blob: blobData(n, byte(i))}
		if i%2 == 1 {
			m = &Keeper{B: blobData(n, byte(i))}
		}
		whole := p.userFrame(p.spec(wire.KindUser, p.parent), "got", m)
		p.writeRaw(wire.AppendChunks(nil, whole, 0))
		kept = append(kept, recv(t, got, waitLong, "message"))
	}
	for i, m := range kept {
		var b []byte
		switch m := m.(type) {
		case *msgptest.Small:
			b = m.Blob
		case *Keeper:
			b = m.B
		}
		if !bytes.Equal(b, blobData(n, byte(i))) {
			t.Fatalf("message %d (%T) changed after later frames arrived", i, m)
		}
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
}
