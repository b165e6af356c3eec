package link

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// eventually polls cond until it holds, failing after waitLong (a bound on
// a hang, not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLong)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStats_CountsFramesBytesDead: frames and bytes each way, dead replies
// and chunked frames are counted on both ends.
func TestStats_CountsFramesBytesDead(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, b, _, _ := linkPair(t, ct, Config{}, Config{})
			small := frameOf(wire.KindUser, []byte("hello"))
			dead := frameOf(wire.KindDead, []byte{0x80})
			big := frameOf(wire.KindUser, bytes.Repeat([]byte{7}, 3*wire.DefaultChunkSize))
			for _, f := range [][]byte{small, small, dead} {
				if err := a.Send(f, Inline); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.Send(big, Queued); err != nil {
				t.Fatal(err)
			}
			chunked := wire.ChunkedLen(len(big), wire.DefaultChunkSize)
			wantBytes := uint64(2*len(small) + len(dead) + chunked)
			eventually(t, "all bytes read", func() bool { return b.Stats().BytesIn >= wantBytes })
			sa, sb := a.Stats(), b.Stats()
			if sa.FramesOut != 4 || sa.BytesOut != wantBytes || sa.DeadOut != 1 {
				t.Fatalf("sender stats %+v, want 4 frames, %d bytes, 1 dead", sa, wantBytes)
			}
			if sb.FramesIn < 3+2 || sb.BytesIn != wantBytes || sb.DeadIn != 1 || sb.ChunksInFlight != 0 {
				t.Fatalf("receiver stats %+v, want 3 frames and chunks, %d bytes, 1 dead, 0 chunks", sb, wantBytes)
			}
			b.CountDrop()
			if b.Stats().Dropped != 1 {
				t.Fatal("CountDrop not counted")
			}
		})
	}
}

// TestStats_HeartbeatRTT: a link with the heartbeat on measures round
// trips; a PONG nobody asked for (a hostile peer's) measures nothing.
func TestStats_HeartbeatRTT(t *testing.T) {
	ta, tb := socketPair(t)
	raw := newRawEnd(t, tb)
	l := startLink(t, ta, Config{Local: 1, Peer: 2, Heartbeat: Heartbeat{Interval: 5 * time.Millisecond, Timeout: time.Minute}},
		newFakeHandler())
	if err := raw.write(frameOf(wire.KindPong, nil)); err != nil { // unasked
		t.Fatal(err)
	}
	eventually(t, "unasked PONG read", func() bool { return l.Stats().FramesIn == 1 })
	if s := l.Stats(); s.RTT != 0 || s.RTTSmoothed != 0 {
		t.Fatalf("an unasked PONG gave RTT %v / %v", s.RTT, s.RTTSmoothed)
	}
	for { // answer PINGs, as a peer does
		f, err := raw.r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Header().Kind() == wire.KindPing {
			if err := raw.write(frameOf(wire.KindPong, nil)); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	eventually(t, "RTT measured", func() bool { return l.Stats().RTT > 0 })
	if s := l.Stats(); s.RTTSmoothed <= 0 {
		t.Fatalf("smoothed RTT %v after a round trip", s.RTTSmoothed)
	}
}

// TestStats_QueueHighAndHostileChunks: a peer that stops reading raises
// the queue's high-water mark; chunk starts it never ends show as chunks
// in flight.
func TestStats_QueueHighAndHostileChunks(t *testing.T) {
	ta, tb := osPipes(t)
	raw := newRawEnd(t, tb)
	l := startLink(t, ta, Config{Local: 1, Peer: 2, MaxQueue: 1 << 20}, newFakeHandler())
	f := frameOf(wire.KindUser, bytes.Repeat([]byte{1}, 32<<10))
	for {
		if err := l.Send(f, NoWait); errors.Is(err, ErrCongested) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if s := l.Stats(); s.QueueHigh < 1<<19 || s.QueueBytes == 0 {
		t.Fatalf("queue high %d now %d, want the queue near its limit", s.QueueHigh, s.QueueBytes)
	}
	for src := uint32(2); src < 5; src++ {
		c := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindChunk, Flags: wire.FlagStart, Dst: 1, Src: src, Auth: src}, nil, []byte{1})
		if err := raw.write(c); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "chunks read", func() bool { return l.Stats().FramesIn == 3 })
	if n := l.Stats().ChunksInFlight; n != 3 {
		t.Fatalf("chunks in flight %d, want 3", n)
	}
}

// BenchmarkStats_CountFrame is the counters' cost per frame: one frame
// counted in and one counted out (what a round trip adds on each side),
// against "off", the frame count the link kept before (l.rx).
func BenchmarkStats_CountFrame(b *testing.B) {
	raw := frameOf(wire.KindUser, make([]byte, 64))
	f := wire.Frame{Raw: raw}
	b.Run("off", func(b *testing.B) {
		l := &Link{}
		for b.Loop() {
			l.rx.Add(1)
		}
	})
	b.Run("on", func(b *testing.B) {
		l := &Link{}
		for b.Loop() {
			l.rx.Add(1)
			l.countIn(f)
			l.countOut(raw, len(raw))
			l.noteQueue()
		}
	})
}
