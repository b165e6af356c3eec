package actors_test

import (
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// TestLinkStats_BothSides: after request/response traffic, each side's
// link stats name the peer and count frames and bytes each way, and the
// heartbeat's round trip is measured.
func TestLinkStats_BothSides(t *testing.T) {
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup),
		HeartbeatInterval: 5 * time.Millisecond, HeartbeatTimeout: time.Minute}
	root := newRoot(t, cfg)
	c := attach(t, root, "worker", cfg)
	echo := spawnRemote(t, root, c.link.ID, "echo", "")
	for range 10 {
		ping(t, root, echo, "x")
	}
	one := func(n *actors.Node) actors.LinkStats {
		s := n.LinkStats()
		if len(s) != 1 {
			t.Fatalf("%s: %d links, want 1", n.Name(), len(s))
		}
		return s[0]
	}
	waitFor(t, waitLong, "RTT on both sides", func() bool { return one(root).RTT > 0 && one(c.node).RTT > 0 })
	r, w := one(root), one(c.node)
	if r.Peer != c.link.ID || r.Name != "worker" || r.IsParent || !w.IsParent || w.Peer != root.ID() {
		t.Fatalf("peers: root sees %+v, worker sees %+v", r, w)
	}
	if r.FramesOut < 11 || r.FramesIn < 10 || w.FramesIn < 11 || w.FramesOut < 10 || r.BytesOut == 0 || w.BytesOut == 0 {
		t.Fatalf("counts: root %+v, worker %+v", r, w)
	}
	if r.RTTSmoothed <= 0 || r.Dropped != 0 || r.ChunksInFlight != 0 {
		t.Fatalf("root link stats %+v", r)
	}
}

// TestLinkStats_HostileChildDropsCounted: frames a hostile child sends with
// a spoofed source are dropped and counted on its link, and chunk streams
// it begins and never ends show as chunks in flight.
func TestLinkStats_HostileChildDropsCounted(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	raw, _ := attachRaw(t, root, "mallory")
	for i := 0; i < 100; i++ {
		s := raw.spec(wire.KindUser, 0)
		s.Src = 4000 + uint32(i)
		raw.send(s, nil)
	}
	s := raw.spec(wire.KindChunk, 0)
	s.Flags = wire.FlagStart
	raw.send(s, []byte{1, 2, 3})
	raw.barrier(0)
	st := root.LinkStats()
	if len(st) != 1 || st[0].Name != "mallory" || st[0].Dropped != 100 || st[0].ChunksInFlight != 1 {
		t.Fatalf("root's link stats %+v, want 100 dropped and 1 chunk in flight from mallory", st)
	}
}
