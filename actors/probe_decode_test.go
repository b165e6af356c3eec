package actors_test

// Acceptance probe of issue 11 ("One 96 MiB frame of empty msgpack maps
// decoded to over 2 GiB (decoded size 16-64x the payload for `any`, slice
// and map fields)"): the same bomb aimed at typed slice and map fields,
// not only at `any` (TestQuota_DecodeAmplificationBomb). Empty maps and
// pointers (64 estimated bytes per payload byte) are refused; a map of
// distinct short keys to empty slices passes the estimate (about 12 times
// its bytes) and really allocates about 26 times its bytes, within the
// documented ratio of 32 (figures in the test log; only the refusals are
// bounded here, as TotalAlloc counts the whole process).

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// Boxes with typed fields an array of empty maps decodes into.
type (
	SliceOfMapsBox struct{ V []map[string]int }
	SliceOfPtrsBox struct{ V []*Ping }
	MapOfSlicesBox struct{ V map[string][]int }
)

// bombPayload is {"V": <array or map of n elements>} where every element
// is one byte (0x80, an empty map) or, for a map, a one-byte key and an
// empty array.
func bombPayload(n int, asMap bool) []byte {
	if asMap {
		p := []byte{0x81, 0xa1, 'V', 0xdf, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(p[4:], uint32(n))
		for i := 0; i < n; i++ {
			// distinct keys: fixstr of 4 bytes from i, then an empty array
			p = append(p, 0xa4, byte(i>>24), byte(i>>16), byte(i>>8), byte(i), 0x90)
		}
		return p
	}
	p := []byte{0x81, 0xa1, 'V', 0xdd, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(p[4:], uint32(n))
	return append(p, bytes.Repeat([]byte{0x80}, n)...)
}

func TestProbe_DecodeAmplificationTypedFields(t *testing.T) {
	got := make(chan any, 4)
	root := newRoot(t, actors.Config{Setup: func(n *actors.Node) error {
		for _, err := range []error{typeSetup(n),
			actors.RegisterType[SliceOfMapsBox](n, "test.SliceOfMapsBox"),
			actors.RegisterType[SliceOfPtrsBox](n, "test.SliceOfPtrsBox"),
			actors.RegisterType[MapOfSlicesBox](n, "test.MapOfSlicesBox"),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	}})
	if _, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		switch c.Message().(type) {
		case *SliceOfMapsBox, *SliceOfPtrsBox, *MapOfSlicesBox:
			offer(got, c.Message())
		}
	}), "sink"); err != nil {
		t.Fatal(err)
	}
	raw, link := attachRaw(t, root, "mallory")
	const size = 8 << 20
	for _, tc := range []struct {
		typ     string
		payload []byte
		refused bool
	}{
		{"*test.SliceOfMapsBox", bombPayload(size, false), true},
		{"*test.SliceOfPtrsBox", bombPayload(size, false), true},
		{"*test.MapOfSlicesBox", bombPayload(size/24, true), false}, // 2 MiB
	} {
		buf, start := wire.BeginFrame(nil, raw.spec(wire.KindUser, 0))
		buf = wire.AppendEnvelopeHead(buf, wire.Envelope{Target: "sink", Type: tc.typ})
		buf = append(buf, tc.payload...)
		if err := wire.FinishFrame(buf, start, 0); err != nil {
			t.Fatal(err)
		}
		tc.payload = nil
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		raw.writeRaw(buf)
		if tc.refused {
			d := raw.expectDead(tc.typ+" refused", func(d wire.DeadReply) bool { return d.Target == "sink" })
			if d.Code != wire.DeadRejected {
				t.Errorf("%s: dead reply %+v, want rejected", tc.typ, d)
			}
		} else {
			recv(t, got, waitLong, tc.typ+" delivered (its estimate is within the ratio)")
		}
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc // of the whole process: an upper bound
		t.Logf("%s: the root allocated %d MiB for a %d MiB frame", tc.typ, alloc>>20, len(buf)>>20)
		// Decoding 8 MiB of empty maps would allocate over 512 MiB; a
		// refusal allocates about the frame (22 MiB measured), the rest
		// is room for other goroutines of the process.
		if tc.refused && alloc > 128<<20 {
			t.Errorf("%s: the root allocated %d MiB for a %d MiB frame", tc.typ, alloc>>20, len(buf)>>20)
		}
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
}
