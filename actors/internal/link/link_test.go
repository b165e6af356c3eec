package link

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/fdcount"
	"github.com/spindle-go/spindle/wire"
)

// TestLink_FramesArriveInOrder: frames sent in every mode arrive whole and
// in order (per queue) over every transport; a frame over the chunk size
// arrives as CHUNK frames that reassemble to it.
func TestLink_FramesArriveInOrder(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, _, _, hb := linkPair(t, ct, Config{}, Config{})
			var want [][]byte
			for i := range 50 {
				f := frameOf(testKind, bytes.Repeat([]byte{byte(i)}, 100+i))
				want = append(want, f)
				mode := []Mode{Inline, Queued, NoWait}[i%3]
				if err := a.Send(f, mode); err != nil {
					t.Fatalf("Send %d (mode %d): %v", i, mode, err)
				}
			}
			big := frameOf(testKind, bytes.Repeat([]byte("x"), 3*wire.DefaultChunkSize+5))
			if err := a.Send(big, Inline); err != nil {
				t.Fatal(err)
			}
			for i, w := range want {
				if got := recvWithin(t, hb.frames, waitLong, "frame"); !bytes.Equal(got, w) {
					t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(w))
				}
			}
			asm := wire.NewAssembler(wire.DefaultMaxFrame)
			for {
				c := recvWithin(t, hb.frames, waitLong, "chunk")
				if k := wire.Header(c).Kind(); k != wire.KindChunk {
					t.Fatalf("big frame arrived as %s, want CHUNK frames", k)
				}
				whole, done, err := asm.Add(wire.Frame{Raw: c})
				if err != nil {
					t.Fatal(err)
				}
				if done {
					if !bytes.Equal(whole.Raw, big) {
						t.Fatal("reassembled frame differs")
					}
					break
				}
			}
		})
	}
}

// TestLink_PingAnsweredByTheLink: a PING is answered with a link-local
// PONG by the link itself; the handler sees neither.
func TestLink_PingAnsweredByTheLink(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := newFakeHandler()
			startLink(t, ta, Config{Local: 1, Peer: 2}, h)
			raw := newRawEnd(t, tb)
			if err := raw.write(frameOf(wire.KindPing, nil)); err != nil {
				t.Fatal(err)
			}
			f, err := raw.r.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if hd := f.Header(); hd.Kind() != wire.KindPong || hd.Src() != 1 || hd.Dst() != 2 {
				t.Fatalf("answer %s %d->%d, want PONG 1->2", hd.Kind(), hd.Src(), hd.Dst())
			}
			if len(h.frames) != 0 {
				t.Fatal("the handler saw the PING")
			}
		})
	}
}

// TestLink_SilentPeerDeclaredDead: a peer that sends nothing for the
// heartbeat timeout is declared dead with a *HeartbeatError.
func TestLink_SilentPeerDeclaredDead(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := newFakeHandler()
			hb := Heartbeat{Interval: 20 * time.Millisecond, Timeout: 150 * time.Millisecond}
			l := startLink(t, ta, Config{Local: 1, Peer: 2, Name: "quiet", Heartbeat: hb}, h)
			go func() { _, _ = io_Copy(tb) }() // reads, never writes
			reason := recvWithin(t, h.down, waitLong, "LinkDown")
			var he *HeartbeatError
			if !errors.As(reason, &he) || !errors.Is(reason, ErrHeartbeatTimeout) || he.Peer != "quiet" {
				t.Fatalf("reason %v (%T), want a *HeartbeatError for quiet", reason, reason)
			}
			<-l.Done() // closed after LinkDown returns
			if !errors.Is(l.Err(), ErrHeartbeatTimeout) {
				t.Fatalf("Err() = %v", l.Err())
			}
		})
	}
}

// TestLink_StuckReaderDeclaredWriteStalled: a peer that stops reading but
// keeps sending heartbeats is not silent, but the link's writer makes no
// progress: after the heartbeat timeout the link is declared dead with a
// *WriteStallError (ErrWriteStalled), and senders blocked on its full queue
// are released with that reason.
func TestLink_StuckReaderDeclaredWriteStalled(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := newFakeHandler()
			hb := Heartbeat{Interval: 20 * time.Millisecond, Timeout: 300 * time.Millisecond}
			l := startLink(t, ta, Config{Local: 1, Peer: 2, Name: "deaf", Heartbeat: hb, MaxQueue: 1 << 20}, h)
			raw := newRawEnd(t, tb)
			stop := make(chan struct{})
			defer close(stop)
			go func() { // PINGs, never reads
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if raw.write(frameOf(wire.KindPing, nil)) != nil {
							return
						}
					}
				}
			}()
			blocked := make(chan error, 1)
			go func() {
				f := frameOf(testKind, make([]byte, 64<<10))
				for {
					if err := l.Send(f, Queued); err != nil {
						blocked <- err
						return
					}
				}
			}()
			reason := recvWithin(t, h.down, waitLong, "LinkDown")
			var we *WriteStallError
			if !errors.As(reason, &we) || !errors.Is(reason, ErrWriteStalled) || we.Peer != "deaf" || we.Stall < hb.Timeout {
				t.Fatalf("reason %v (%T), want a *WriteStallError for deaf", reason, reason)
			}
			if err := recvWithin(t, blocked, atOnce, "the blocked sender"); !errors.Is(err, ErrWriteStalled) {
				t.Fatalf("blocked Send returned %v, want ErrWriteStalled", err)
			}
		})
	}
}

// stuckLink returns a link whose peer never reads, with its writer blocked
// and its bulk queue of limit bytes full, and the raw peer.
func stuckLink(t *testing.T, ct connType, limit int) (*Link, *fakeHandler, *rawEnd) {
	t.Helper()
	ta, tb := ct.make(t)
	h := newFakeHandler()
	l := startLink(t, ta, Config{Local: 1, Peer: 2, MaxQueue: limit}, h)
	f := frameOf(testKind, make([]byte, 4<<10))
	deadline := time.Now().Add(waitLong)
	for fresh := 0; ; fresh = 0 {
		// Fill until congested; once the writer is stuck, the first send
		// after a pause is congested too.
		for {
			err := l.Send(f, NoWait)
			if errors.Is(err, ErrCongested) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			fresh++
		}
		if fresh == 0 {
			return l, h, newRawEnd(t, tb)
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue never stayed full")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLink_NoWaitNeverWaits: on a link whose peer stopped reading, NoWait
// sends fail with ErrCongested instead of waiting, Queued sends honour
// their ctx, and control frames are still accepted at once.
func TestLink_NoWaitNeverWaits(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			l, _, _ := stuckLink(t, ct, 256<<10)
			start := time.Now()
			if err := l.Send(frameOf(testKind, make([]byte, 4<<10)), NoWait); !errors.Is(err, ErrCongested) {
				t.Fatalf("NoWait on a full queue: %v, want ErrCongested", err)
			}
			if err := l.Send(frameOf(wire.KindDelRoute, []byte("dead")), Control); err != nil {
				t.Fatalf("Control on a full bulk queue: %v", err)
			}
			if took := time.Since(start); took > atOnce {
				t.Fatalf("NoWait and Control took %v", took)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start = time.Now()
			err := l.SendContext(ctx, frameOf(testKind, make([]byte, 64<<10)), nil, Inline)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("SendContext on a full queue: %v, want DeadlineExceeded", err)
			}
			t.Logf("SendContext returned %v after a 200ms deadline", time.Since(start))
			if took := time.Since(start); took > atOnce {
				t.Fatalf("SendContext returned after %v", took)
			}
		})
	}
}

// TestLink_BoundedWaitsOnceThenFailsFast: on a link whose peer stopped
// reading, an actor's (Bounded) send waits for room at most BoundedWait
// and fails with ErrCongested; while the link stays congested, later
// Bounded sends fail at once, so a stuck peer holds the sending actor once,
// not once per message.
func TestLink_BoundedWaitsOnceThenFailsFast(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			l, _, _ := stuckLink(t, ct, 256<<10)
			// The writer may still move a batch into the transport's own
			// buffer: send until the queue stays full.
			var err error
			var first time.Duration
			for range 64 {
				start := time.Now()
				err = l.Send(frameOf(testKind, make([]byte, 64<<10)), Bounded)
				first = time.Since(start)
				if err != nil {
					break
				}
			}
			if !errors.Is(err, ErrCongested) {
				t.Fatalf("Bounded on a stuck link: %v, want ErrCongested", err)
			}
			if first < BoundedWait/2 || first > BoundedWait+waitLong {
				t.Fatalf("the first Bounded send returned after %v, want about %v", first, BoundedWait)
			}
			start := time.Now()
			for range 100 {
				if err := l.Send(frameOf(testKind, make([]byte, 4<<10)), Bounded); !errors.Is(err, ErrCongested) {
					t.Fatalf("Bounded on a congested link: %v, want ErrCongested", err)
				}
			}
			if took := time.Since(start); took > atOnce {
				t.Fatalf("100 Bounded sends on a congested link took %v, want at once", took)
			}
			t.Logf("first Bounded send failed after %v; the next 100 in %v", first, time.Since(start))
		})
	}
}

// TestLink_ControlFrameNotStuckBehindFullBulk: a control frame queued after
// a full bulk queue reaches the peer ahead of the bulk frames still queued.
func TestLink_ControlFrameNotStuckBehindFullBulk(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			l, _, raw := stuckLink(t, ct, 1<<20)
			del := frameOf(wire.KindDelRoute, []byte("ctx 7 is dead"))
			if err := l.Send(del, Control); err != nil {
				t.Fatal(err)
			}
			l.mu.Lock()
			queued := l.bulk.Len()
			l.mu.Unlock()
			read := 0
			for {
				f, err := raw.r.ReadFrame()
				if err != nil {
					t.Fatal(err)
				}
				if f.Header().Kind() == wire.KindDelRoute {
					break
				}
				read += len(f.Raw)
			}
			t.Logf("DEL_ROUTE arrived after %d bulk bytes, with %d queued behind it when sent", read, queued)
			if queued > 0 && read >= queued+writePiece+(1<<20) {
				t.Fatalf("DEL_ROUTE arrived after %d bytes of bulk, %d were queued: it waited behind them", read, queued)
			}
		})
	}
}

// TestLink_InlineWriteNeverWaitsForThePeer: a sender writing inline to a
// peer that stopped reading returns at once: what the kernel does not take
// is left to the writer goroutine.
func TestLink_InlineWriteNeverWaitsForThePeer(t *testing.T) {
	for _, ct := range connTypes {
		if ct.name == "net.Pipe" {
			continue // synchronous: no kernel buffer, every write waits for the reader
		}
		t.Run(ct.name, func(t *testing.T) {
			ta, _ := ct.make(t)
			l := startLink(t, ta, Config{Local: 1, Peer: 2}, newFakeHandler())
			done := make(chan struct{})
			go func() {
				defer close(done)
				f := frameOf(testKind, make([]byte, 8<<10))
				for range 200 { // 1.6 MiB: far more than the kernel buffers
					time.Sleep(50 * time.Microsecond) // idle between sends: each may be written inline
					if err := l.Send(f, Inline); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(waitLong):
				t.Fatal("an inline Send waited for a peer that does not read")
			}
		})
	}
}

// TestLink_ShutdownReleasesBlockedSender: a sender waiting for room is
// released with the cause when the link is shut down.
func TestLink_ShutdownReleasesBlockedSender(t *testing.T) {
	l, h, _ := stuckLink(t, connTypes[1], 256<<10)
	cause := errors.New("test cause")
	got := make(chan error, 1)
	go func() { got <- l.Send(frameOf(testKind, make([]byte, 64<<10)), Queued) }()
	time.Sleep(50 * time.Millisecond)
	l.Shutdown(cause)
	if err := recvWithin(t, got, atOnce, "the blocked Send"); !errors.Is(err, cause) {
		t.Fatalf("blocked Send returned %v, want the cause", err)
	}
	if reason := recvWithin(t, h.down, atOnce, "LinkDown"); !errors.Is(reason, cause) {
		t.Fatalf("LinkDown(%v), want the cause", reason)
	}
}

// TestLink_HandlerErrorClosesLink: an error from HandleFrame closes the
// link with that reason, through Config.Reason.
func TestLink_HandlerErrorClosesLink(t *testing.T) {
	bad := errors.New("bad frame")
	ta, tb := osPipes(t)
	h := newFakeHandler()
	h.fail = func(wire.Frame) error { return &ProtocolError{Err: bad} }
	wrapped := errors.New("wrapped")
	startLink(t, ta, Config{Local: 1, Peer: 2, Reason: func(err error) error { return errors.Join(wrapped, err) }}, h)
	if err := newRawEnd(t, tb).write(frameOf(testKind, nil)); err != nil {
		t.Fatal(err)
	}
	reason := recvWithin(t, h.down, waitLong, "LinkDown")
	var pe *ProtocolError
	if !errors.As(reason, &pe) || !errors.Is(reason, bad) || !errors.Is(reason, wrapped) {
		t.Fatalf("reason %v, want the handler's ProtocolError through Reason", reason)
	}
}

// TestLink_MalformedFrameIsProtocolError: bytes that are no frame close
// the link with a *ProtocolError.
func TestLink_MalformedFrameIsProtocolError(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := newFakeHandler()
			startLink(t, ta, Config{Local: 1, Peer: 2}, h)
			go func() { _ = newRawEnd(t, tb).write(bytes.Repeat([]byte{0xff}, wire.HeaderSize)) }()
			var pe *ProtocolError
			if reason := recvWithin(t, h.down, waitLong, "LinkDown"); !errors.As(reason, &pe) {
				t.Fatalf("reason %v (%T), want a *ProtocolError", reason, reason)
			}
		})
	}
}

// TestLink_DescriptorsTravelWithTheirFrame: over a socketpair a frame with
// descriptors hands them to the handler; over pipes SendFDs refuses with
// ErrNoFDPassing and closes them.
func TestLink_DescriptorsTravelWithTheirFrame(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, _, _, hb := linkPair(t, ct, Config{}, Config{})
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			base := fdcount.Open(t)
			fd, err := dupCloexec(int(r.Fd()))
			if err != nil {
				t.Fatal(err)
			}
			f := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Flags: wire.FlagFDs, Dst: 2, Src: 1, Auth: 1},
				nil, append(wire.AppendEnvelopeHead(nil, wire.Envelope{FDs: 1, Target: "t", Type: "T"}), 0xc0))
			err = a.SendFDs(f, []int{fd}, Inline)
			if !ct.fds {
				if !errors.Is(err, ErrNoFDPassing) {
					t.Fatalf("SendFDs over %s: %v, want ErrNoFDPassing", ct.name, err)
				}
				if got := fdcount.Open(t); got != base {
					t.Fatalf("%d descriptors open after a refused SendFDs, want %d", got, base)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fds := recvWithin(t, hb.fds, waitLong, "descriptors")
			if len(fds) != 1 {
				t.Fatalf("handler took %v", fds)
			}
			CloseFDs(fds)
			waitFor(t, func() bool { return fdcount.Open(t) == base })
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLink_ChunkedInlineWriteKeepsChunksTogether: frames over the chunk
// size written inline (one writev of chunk headers and slices, the rest
// queued when the kernel takes only part) arrive whole and in order, with
// small frames from another goroutine only ever between whole frames'
// chunk streams, never inside one (a START inside an open stream of the
// same source would be malformed).
func TestLink_ChunkedInlineWriteKeepsChunksTogether(t *testing.T) {
	for _, ct := range connTypes {
		if ct.name == "net.Pipe" {
			continue // no descriptor: never inline
		}
		t.Run(ct.name, func(t *testing.T) {
			a, _, _, hb := linkPair(t, ct, Config{}, Config{})
			const bigs, smalls = 12, 300
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
				big := frameOf(testKind, bytes.Repeat([]byte{byte(i)}, 5*wire.DefaultChunkSize+1000*i))
				want = append(want, big)
				time.Sleep(30 * time.Microsecond) // idle: written inline
				if err := a.Send(big, Inline); err != nil {
					t.Fatal(err)
				}
			}
			<-done
			asm := wire.NewAssembler(wire.DefaultMaxFrame)
			var got [][]byte
			for n := 0; n < smalls || len(got) < bigs; {
				c := recvWithin(t, hb.frames, waitLong, "frame")
				if wire.Header(c).Kind() != wire.KindChunk {
					n++
					continue
				}
				whole, ok, err := asm.Add(wire.Frame{Raw: c})
				if err != nil {
					t.Fatalf("chunk stream broken after %d frames: %v", len(got), err)
				}
				if ok {
					got = append(got, append([]byte(nil), whole.Raw...))
				}
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("big frame %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
				}
			}
		})
	}
}
