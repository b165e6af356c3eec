package transfer_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/wire"
)

// Reset codes as they travel (transfer.Code).
const (
	codeRefused     = uint16(transfer.CodeRefused)
	codeLimit       = uint16(transfer.CodeLimit)
	codeFlowControl = uint16(transfer.CodeFlowControl)
)

// TestHostile_GarbageBodies: malformed bodies of every stream kind are
// dropped; the link stays up and nothing is held.
func TestHostile_GarbageBodies(t *testing.T) {
	root := rawRoot(t, setup)
	p := attachRaw(t, root, "garbage")
	long := append(openBody(9, 1<<20, "echo"), 0)
	for _, tt := range []struct {
		kind wire.Kind
		body []byte
	}{
		{wire.KindStreamOpen, nil},
		{wire.KindStreamOpen, []byte{1, 2, 3}},
		{wire.KindStreamOpen, long},                                // trailing byte
		{wire.KindStreamOpen, openBody(0, 1<<20, "echo")},          // zero ID
		{wire.KindStreamOpen, openBody(5|fromAcceptor, 1, "echo")}, // the acceptor's bit
		{wire.KindStreamOpen, append(openBody(6, 1, ""), 0xff)},    // name longer than the body
		{wire.KindStreamData, []byte{1}},
		{wire.KindStreamCredit, creditBody(1, 0)},
		{wire.KindStreamCredit, append(creditBody(1, 1), 0)},
		{wire.KindStreamReset, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0xff}},
	} {
		p.send(tt.kind, 0, tt.body)
	}
	p.barrier()
	// A zero window is answered, not held.
	p.send(wire.KindStreamOpen, wire.FlagStart, openBody(7, 0, "echo"))
	if f := p.expect(wire.KindStreamReset); bodyID(f) != 7|fromAcceptor {
		t.Fatalf("reset of stream %x", bodyID(f))
	}
	if n := tr(root).Streams(); n != 0 {
		t.Fatalf("%d streams held after garbage", n)
	}
	// The link is up: a proper open is accepted.
	p.send(wire.KindStreamOpen, wire.FlagStart, openBody(8, 1<<20, "echo"))
	if f := p.expect(wire.KindStreamCredit); bodyID(f) != 8|fromAcceptor {
		t.Fatalf("credit for stream %x", bodyID(f))
	}
}

// TestHostile_OpenFromNonAncestor: a child may not open the file handlers
// or a default-policy handler of its parent.
func TestHostile_OpenFromNonAncestor(t *testing.T) {
	root := rawRoot(t, setup)
	p := attachRaw(t, root, "intruder")
	for i, name := range []string{"spindle.push", "spindle.pull", "private"} {
		id := uint64(i + 1)
		p.send(wire.KindStreamOpen, wire.FlagStart, openBody(id, 1<<20, name))
		f := p.expect(wire.KindStreamReset)
		if bodyID(f) != id|fromAcceptor || resetCode(t, f) != codeRefused {
			t.Fatalf("%s: reset %x code %d, want refused", name, bodyID(f), resetCode(t, f))
		}
		// Data it sends anyway lands nowhere.
		p.send(wire.KindStreamData, 0, dataBody(id, 0, make([]byte, 1000)))
	}
	p.barrier()
	if n := tr(root).Streams(); n != 0 {
		t.Fatalf("%d streams held", n)
	}
}

// TestHostile_StreamLimit: a context may hold at most MaxStreams streams
// open here; the rest are reset with CodeLimit; all are freed at its
// death, and their handlers end.
func TestHostile_StreamLimit(t *testing.T) {
	root := rawRoot(t, setup)
	p := attachRaw(t, root, "opener")
	const tries = transfer.DefaultMaxStreams + 36
	for id := uint64(1); id <= tries; id++ {
		p.send(wire.KindStreamOpen, wire.FlagStart, openBody(id, 1<<20, "hold"))
	}
	credits, limits := 0, 0
	for credits+limits < tries {
		p.mu.Lock()
		frames := p.frames
		p.frames = nil
		p.mu.Unlock()
		for _, f := range frames {
			switch f.Header().Kind() {
			case wire.KindStreamCredit:
				credits++
			case wire.KindStreamReset:
				if resetCode(t, f) != codeLimit {
					t.Fatalf("reset code %d, want limit", resetCode(t, f))
				}
				limits++
			}
		}
		if credits+limits < tries {
			select {
			case <-p.signal:
			case <-time.After(waitLong):
				t.Fatalf("%d credits and %d resets for %d opens", credits, limits, tries)
			}
		}
	}
	if credits != transfer.DefaultMaxStreams || tr(root).Streams() != transfer.DefaultMaxStreams {
		t.Fatalf("%d accepted, %d held; want %d", credits, tr(root).Streams(), transfer.DefaultMaxStreams)
	}
	_ = p.conn.Close() // the opener dies
	waitStreams(t, root, 0)
}

// TestHostile_DataBeyondWindow: data beyond the granted window, at a
// wrong offset or after END resets the stream; nothing is kept.
func TestHostile_DataBeyondWindow(t *testing.T) {
	root := rawRoot(t, setup)
	p := attachRaw(t, root, "flooder")
	open := func(id uint64) uint32 {
		p.send(wire.KindStreamOpen, wire.FlagStart, openBody(id, 1<<20, "hold"))
		f := p.expect(wire.KindStreamCredit)
		return uint32(len(f.Body())) // the window is in the body; checked below
	}
	for _, tt := range []struct {
		name string
		send func(id uint64)
	}{
		{"beyond the window", func(id uint64) {
			chunk := make([]byte, 64<<10)
			for off := uint64(0); off <= transfer.DefaultWindow; off += uint64(len(chunk)) {
				p.send(wire.KindStreamData, 0, dataBody(id, off, chunk))
			}
		}},
		{"wrong offset", func(id uint64) { p.send(wire.KindStreamData, 0, dataBody(id, 5, []byte("x"))) }},
		{"after END", func(id uint64) {
			p.send(wire.KindStreamData, wire.FlagEnd, dataBody(id, 0, []byte("x")))
			p.send(wire.KindStreamData, 0, dataBody(id, 1, []byte("y")))
		}},
	} {
		id := uint64(len(tt.name))
		open(id)
		tt.send(id)
		f := p.expect(wire.KindStreamReset)
		if bodyID(f) != id|fromAcceptor || resetCode(t, f) != codeFlowControl {
			t.Errorf("%s: reset %x code %d, want flow control", tt.name, bodyID(f), resetCode(t, f))
		}
	}
	waitStreams(t, root, 0)
}

// TestHostile_ForgedStreamIDs: a context that names other contexts'
// stream IDs touches nothing of theirs (a stream is named by its peer).
func TestHostile_ForgedStreamIDs(t *testing.T) {
	root := rawRoot(t, setup)
	good := attach(t, root, "good", actors.Config{})
	p := attachRaw(t, root, "forger")
	s, err := tr(root).Open(timeout(t), good.node.ID(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 64; id++ {
		for _, w := range []uint64{id, id | fromAcceptor} {
			p.send(wire.KindStreamReset, wire.FlagError, resetBody(w, 1))
			p.send(wire.KindStreamCredit, 0, creditBody(w, 1<<30))
			p.send(wire.KindStreamData, wire.FlagEnd, dataBody(w, 0, []byte("forged")))
		}
	}
	p.barrier()
	if _, err := s.Write([]byte("still mine")); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "still mine" {
		t.Fatalf("echo after forgeries: %q, %v", b, err)
	}
}

// TestHostile_CreditBeyondBound: credit that would let this side send
// more than MaxWindow unread resets the stream.
func TestHostile_CreditBeyondBound(t *testing.T) {
	root := rawRoot(t, setup)
	p := attachRaw(t, root, "greedy")
	type opened struct {
		s   *transfer.Stream
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := tr(root).Open(timeout(t), p.id, "anything")
		ch <- opened{s, err}
	}()
	f := p.expect(wire.KindStreamOpen)
	id := bodyID(f) | fromAcceptor
	p.send(wire.KindStreamCredit, 0, creditBody(id, 1<<20)) // accept
	o := <-ch
	if o.err != nil {
		t.Fatal(o.err)
	}
	for i := 0; i < 64; i++ {
		p.send(wire.KindStreamCredit, 0, creditBody(id, 1<<20))
	}
	r := p.expect(wire.KindStreamReset)
	if resetCode(t, r) != codeFlowControl {
		t.Fatalf("reset code %d", resetCode(t, r))
	}
	if _, err := o.s.Write([]byte("x")); !errors.Is(err, transfer.ErrFlowControl) {
		t.Fatalf("Write after the bad credit: %v", err)
	}
}

// TestHostile_NeverEndingStreamsBounded: a context opens MaxStreams
// streams to a handler that never reads and fills every window, for ever:
// this context holds at most MaxStreams windows, and nothing once that
// context is gone.
func TestHostile_NeverEndingStreamsBounded(t *testing.T) {
	const window, streams = 256 << 10, 16
	root := rawRoot(t, setupWith(transfer.Config{Window: window, MaxStreams: streams}))
	p := attachRaw(t, root, "hoarder")
	before := liveHeap()
	chunk := make([]byte, 64<<10)
	for id := uint64(1); id <= streams+4; id++ {
		p.send(wire.KindStreamOpen, wire.FlagStart, openBody(id, 1<<20, "hold"))
		// Fill the window and go on: beyond it the stream is reset.
		for off := uint64(0); off < window; off += uint64(len(chunk)) {
			p.send(wire.KindStreamData, 0, dataBody(id, off, chunk))
		}
	}
	p.barrier()
	held := liveHeap()
	if n := tr(root).Streams(); n != streams {
		t.Fatalf("%d streams held, want %d", n, streams)
	}
	t.Logf("live heap %d MiB -> %d MiB holding %d full windows of %d KiB", before>>20, held>>20, streams, window>>10)
	if held > before+streams*window+8<<20 {
		t.Errorf("live heap grew by %d MiB, bound %d MiB", (held-before)>>20, (streams*window+8<<20)>>20)
	}
	_ = p.conn.Close()
	waitStreams(t, root, 0)
	if after := liveHeap(); after > before+4<<20 {
		t.Errorf("live heap %d MiB after the hoarder died, %d MiB before", after>>20, before>>20)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestStream_RefusedOnTheWayFailsAtOnce: an open that a middle context
// refuses (isolated siblings) fails at once with the IS_DEAD that names
// the stream, not at the caller's deadline.
func TestStream_RefusedOnTheWayFailsAtOnce(t *testing.T) {
	root := newRoot(t, actors.Config{Unidirectional: true})
	a := attach(t, root, "a", actors.Config{})
	b := attach(t, root, "b", actors.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	start := time.Now()
	_, err := tr(a.node).Open(ctx, b.node.ID(), "echo")
	if !errors.Is(err, actors.ErrRefused) {
		t.Fatalf("open between isolated siblings: %v", err)
	}
	t.Logf("refused after %v", time.Since(start))
}

// TestStream_LimitPerChildLink: the contexts behind one child link share
// MaxPerLink streams here, whoever of them opens them.
func TestStream_LimitPerChildLink(t *testing.T) {
	open := actors.Config{Setup: setupWith(transfer.Config{MaxStreams: 4, MaxPerLink: 6})}
	root := newRoot(t, open)
	mid := attach(t, root, "mid", open)
	var opened, limited int
	for _, name := range []string{"g1", "g2"} {
		g := attach(t, mid.node, name, open)
		waitRoute(t, root, g.node.ID())
		for i := 0; i < 4; i++ {
			_, err := tr(g.node).Open(timeout(t), root.ID(), "hold")
			switch {
			case err == nil:
				opened++
			case errors.Is(err, transfer.ErrLimit):
				limited++
			default:
				t.Fatal(err)
			}
		}
	}
	if opened != 6 || limited != 2 || tr(root).Streams() != 6 {
		t.Fatalf("%d opened, %d limited, %d held; want 6, 2, 6", opened, limited, tr(root).Streams())
	}
}
