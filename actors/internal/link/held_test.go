package link

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/spindle-go/spindle/wire"
)

// heldHandler leaves a run with RunWhenDry for the frames whose body is
// "h"; the run reports how many frames the reader had handled when it ran,
// and on which goroutine kind (it must be the reader: no hand-off).
type heldHandler struct {
	*fakeHandler
	handled int // owned by the reader goroutine
	ran     chan int
}

func (h *heldHandler) HandleFrame(l *Link, f wire.Frame) error {
	h.handled++
	if err := h.fakeHandler.HandleFrame(l, f); err != nil {
		return err
	}
	if bytes.Equal(f.Body(), []byte("h")) {
		at := &h.handled
		if !l.RunWhenDry(func() { h.ran <- *at }) {
			h.ran <- -1 // a run was already waiting
		}
		if !l.Holding() {
			h.ran <- -2
		}
	}
	return nil
}

// writeAll writes the frames in one write, so that the reader finds them in
// its buffer together. It may run on a goroutine of its own.
func writeAll(t *testing.T, tr Transport, frames ...[]byte) {
	if _, err := tr.W.Write(bytes.Join(frames, nil)); err != nil {
		t.Errorf("write: %v", err)
	}
}

// TestLink_RunWhenDryRunsBeforeTheReaderWaits: a run left by RunWhenDry
// waits behind the frames already wholly in the read buffer and runs, on
// the reader, before the reader waits for more: a frame of which only the
// first half has arrived does not hold it.
func TestLink_RunWhenDryRunsBeforeTheReaderWaits(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := &heldHandler{fakeHandler: newFakeHandler(), ran: make(chan int, 4)}
			_ = startLink(t, tb, Config{Local: 1, Peer: 2}, h)
			const behind = 10
			frames := [][]byte{frameOf(testKind, []byte("h"))}
			for range behind {
				frames = append(frames, frameOf(testKind, []byte("x")))
			}
			last := frameOf(testKind, []byte("the last one"))
			frames = append(frames, last[:len(last)/2])
			go writeAll(t, ta, frames...) // net.Pipe: the write returns once read
			if at := recvWithin(t, h.ran, waitLong, "the held run"); at != 1+behind {
				t.Fatalf("the held run ran after %d frames, want %d (the first and the %d buffered behind it)",
					at, 1+behind, behind)
			}
			go writeAll(t, ta, last[len(last)/2:])
			for range 2 + behind {
				recvWithin(t, h.frames, waitLong, "a frame")
			}
		})
	}
}

// TestLink_RunWhenDryWaitsAtMostMaxHeld: a run left by RunWhenDry on a
// link whose buffer holds more frames than MaxHeld runs after MaxHeld of
// them, while the rest are still buffered.
func TestLink_RunWhenDryWaitsAtMostMaxHeld(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := &heldHandler{fakeHandler: newFakeHandler(), ran: make(chan int, 4)}
			_ = startLink(t, tb, Config{Local: 1, Peer: 2}, h)
			frames := [][]byte{frameOf(testKind, []byte("h"))}
			for range MaxHeld + 20 { // 25 bytes each: all of them fit in one read
				frames = append(frames, frameOf(testKind, []byte("x")))
			}
			go writeAll(t, ta, frames...)
			if at := recvWithin(t, h.ran, waitLong, "the held run"); at != 1+MaxHeld {
				t.Fatalf("the held run ran after %d frames, want %d", at, 1+MaxHeld)
			}
			for range len(frames) {
				recvWithin(t, h.frames, waitLong, "a frame")
			}
		})
	}
}

// TestLink_RunWhenDryHandedOnAtLinkDown: a run still waiting when the
// stream ends with a broken frame (the reader's next frame, already
// buffered, fails its check) still runs: the link going down never strands
// a mailbox whose run was held.
func TestLink_RunWhenDryHandedOnAtLinkDown(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := &heldHandler{fakeHandler: newFakeHandler(), ran: make(chan int, 4)}
			_ = startLink(t, tb, Config{Local: 1, Peer: 2}, h)
			bad := frameOf(testKind, []byte("y"))
			bad[0] ^= 0xff // bad magic: a protocol error once read
			go writeAll(t, ta, frameOf(testKind, []byte("h")), bad)
			if at := recvWithin(t, h.ran, waitLong, "the held run"); at != 1 {
				t.Fatalf("the held run ran after %d frames, want 1", at)
			}
			recvWithin(t, h.down, waitLong, "LinkDown")
		})
	}
}

// chainHandler holds a run for the frame "h" and asks RunAfter for a run
// for the frame "r"; both report on order, with the frames handled then.
type chainHandler struct {
	*fakeHandler
	handled int // owned by the reader goroutine
	order   chan string
}

func (h *chainHandler) HandleFrame(l *Link, f wire.Frame) error {
	h.handled++
	if err := h.fakeHandler.HandleFrame(l, f); err != nil {
		return err
	}
	switch string(f.Body()) {
	case "h":
		l.RunWhenDry(func() { h.order <- "held" })
	case "r":
		at := h.handled
		l.RunAfter(func() { h.order <- fmt.Sprint("after ", at) })
	}
	return nil
}

// TestLink_RunAfterBehindAHeldRun: a frame that asks RunAfter for a run
// while an earlier frame's run is held gets it on the reader, right after
// the held one (which runs then, its frame's turn being over), not on a
// goroutine of its own.
func TestLink_RunAfterBehindAHeldRun(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := &chainHandler{fakeHandler: newFakeHandler(), order: make(chan string, 4)}
			_ = startLink(t, tb, Config{Local: 1, Peer: 2}, h)
			go writeAll(t, ta, frameOf(testKind, []byte("h")), frameOf(testKind, []byte("x")),
				frameOf(testKind, []byte("r")), frameOf(testKind, []byte("x")))
			if got := recvWithin(t, h.order, waitLong, "the first run"); got != "held" {
				t.Fatalf("first run %q, want the held one", got)
			}
			if got := recvWithin(t, h.order, waitLong, "the second run"); got != "after 3" {
				t.Fatalf("second run %q, want RunAfter's of the third frame", got)
			}
		})
	}
}
