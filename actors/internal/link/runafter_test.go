package link

import (
	"bytes"
	"testing"

	"github.com/spindle-go/spindle/wire"
)

// runHandler is a fakeHandler that leaves a run for the frames whose first
// body byte is 'b': the run blocks until release is closed.
type runHandler struct {
	*fakeHandler
	release chan struct{}
	running chan struct{}
}

func (h *runHandler) HandleFrame(l *Link, f wire.Frame) error {
	if err := h.fakeHandler.HandleFrame(l, f); err != nil {
		return err
	}
	if b := f.Body(); len(b) > 0 && b[0] == 'b' {
		l.RunAfter(func() {
			h.running <- struct{}{}
			<-h.release
		})
	}
	return nil
}

// TestLink_RunAfterThatBlocksGetsANewReader: a run left by RunAfter that
// blocks keeps its goroutine, and the watchdog gives the link a new reader:
// later frames are handled, and the link still goes down and closes (Close
// does not wait for the blocked run).
func TestLink_RunAfterThatBlocksGetsANewReader(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := &runHandler{fakeHandler: newFakeHandler(), release: make(chan struct{}), running: make(chan struct{}, 4)}
			defer close(h.release) // after the link is closed: Close must not wait for the run
			a := startLink(t, ta, Config{Local: 1, Peer: 2}, newFakeHandler())
			b := startLink(t, tb, Config{Local: 2, Peer: 1}, h)
			if err := a.Send(frameOf(testKind, []byte("block")), Inline); err != nil {
				t.Fatal(err)
			}
			recvWithin(t, h.running, waitLong, "the run")
			f := frameOf(testKind, []byte("next"))
			if err := a.Send(f, Queued); err != nil {
				t.Fatal(err)
			}
			recvWithin(t, h.frames, waitLong, "the blocking frame")
			if got := recvWithin(t, h.frames, waitLong, "the frame after the blocked run"); !bytes.Equal(got, f) {
				t.Fatalf("frame %q, want %q", got, f)
			}
			if b.Detached() == 0 {
				t.Fatal("no new reader was started")
			}
			b.Close()
			recvWithin(t, h.down, waitLong, "LinkDown")
		})
	}
}

// TestLink_CloseDuringBlockedRun: a link closed while a run blocks, before
// the watchdog's budget is up, still goes down (LinkDown) and Close returns.
func TestLink_CloseDuringBlockedRun(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := &runHandler{fakeHandler: newFakeHandler(), release: make(chan struct{}), running: make(chan struct{}, 4)}
			defer close(h.release)
			a := startLink(t, ta, Config{Local: 1, Peer: 2}, newFakeHandler())
			b := startLink(t, tb, Config{Local: 2, Peer: 1}, h)
			if err := a.Send(frameOf(testKind, []byte("block")), Inline); err != nil {
				t.Fatal(err)
			}
			recvWithin(t, h.running, waitLong, "the run")
			closed := make(chan struct{})
			go func() {
				b.Close()
				close(closed)
			}()
			recvWithin(t, h.down, waitLong, "LinkDown")
			recvWithin(t, closed, waitLong, "Close to return")
		})
	}
}
