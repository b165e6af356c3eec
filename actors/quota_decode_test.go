package actors_test

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// AnyBox is a message with an `any` field, registered by the decode bomb
// test only.
type AnyBox struct{ V any }

// TestQuota_DecodeAmplificationBomb: one frame of 8 MiB of empty msgpack
// maps for an `any` field (it would decode to over 500 MiB) is refused
// before decoding: the root allocates about the frame itself, its sender
// gets a dead reply, and the link stays up.
func TestQuota_DecodeAmplificationBomb(t *testing.T) {
	got := make(chan any, 1)
	root := newRoot(t, actors.Config{Setup: func(n *actors.Node) error {
		if err := typeSetup(n); err != nil {
			return err
		}
		return actors.RegisterType[AnyBox](n, "test.AnyBox")
	}})
	if _, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*AnyBox); ok {
			offer(got, any(m))
		}
	}), "sink"); err != nil {
		t.Fatal(err)
	}
	raw, link := attachRaw(t, root, "mallory")
	const n = 8 << 20
	payload := []byte{0x81, 0xa1, 'V', 0xdd, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(payload[4:], n)
	payload = append(payload, bytes.Repeat([]byte{0x80}, n)...)
	buf, start := wire.BeginFrame(nil, raw.spec(wire.KindUser, 0))
	buf = wire.AppendEnvelopeHead(buf, wire.Envelope{Target: "sink", Type: "*test.AnyBox"})
	buf = append(buf, payload...)
	if err := wire.FinishFrame(buf, start, 0); err != nil {
		t.Fatal(err)
	}
	payload = nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	raw.writeRaw(buf)
	d := raw.expectDead("dead reply for the bomb", func(wire.DeadReply) bool { return true })
	runtime.ReadMemStats(&after)
	if d.Code != wire.DeadRejected {
		t.Errorf("dead reply %+v, want rejected", d)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("the root allocated %d MiB for an 8 MiB frame", alloc>>20)
	} else {
		t.Logf("allocated %d MiB for an 8 MiB frame", alloc>>20)
	}
	select {
	case m := <-got:
		t.Fatalf("the bomb was delivered: %T", m)
	default:
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
}
