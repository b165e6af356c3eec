package link

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// echoHandler answers every frame with its body (Queued, as a reader
// answering on its own link must).
type echoHandler struct{ *fakeHandler }

func (h echoHandler) HandleFrame(l *Link, f wire.Frame) error {
	if err := h.fakeHandler.HandleFrame(l, f); err != nil {
		return err
	}
	return l.Send(frameOf(testKind, f.Body()), Queued)
}

// replyHandler hands each answer to the goroutine waiting for it (by the
// request number in its body) and asks the reader to yield, as package
// actors does for the answer to a request; frames with no waiter are
// counted in order.
type replyHandler struct {
	mu      sync.Mutex
	waiting map[uint64]chan []byte
	down    chan error
}

func (h *replyHandler) HandleFrame(l *Link, f wire.Frame) error {
	b := f.Body()
	if len(b) < 8 {
		return fmt.Errorf("short body")
	}
	h.mu.Lock()
	ch := h.waiting[binary.BigEndian.Uint64(b)]
	delete(h.waiting, binary.BigEndian.Uint64(b))
	h.mu.Unlock()
	if ch == nil {
		return fmt.Errorf("answer %d that nobody waits for", binary.BigEndian.Uint64(b))
	}
	ch <- append([]byte(nil), b...)
	l.YieldAfter()
	return nil
}

func (h *replyHandler) LinkDown(_ *Link, reason error) { h.down <- reason }

// TestLink_YieldAfterKeepsEveryAnswer: many requesters at once on one link,
// whose reader yields its thread after each answer, each get their own
// answer, in the order of their own requests, and the link still answers
// PING and reports its end once.
func TestLink_YieldAfterKeepsEveryAnswer(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			h := &replyHandler{waiting: map[uint64]chan []byte{}, down: make(chan error, 1)}
			a := startLink(t, ta, Config{Local: 1, Peer: 2}, h)
			startLink(t, tb, Config{Local: 2, Peer: 1}, echoHandler{newFakeHandler()})
			const requesters, each = 8, 200
			var wg sync.WaitGroup
			errs := make(chan error, requesters)
			for r := range requesters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						id := uint64(r*each + i)
						var body [8]byte
						binary.BigEndian.PutUint64(body[:], id)
						ch := make(chan []byte, 1)
						h.mu.Lock()
						h.waiting[id] = ch
						h.mu.Unlock()
						if err := a.Send(frameOf(testKind, body[:]), Inline); err != nil {
							errs <- err
							return
						}
						var got []byte
						select {
						case got = <-ch:
						case <-time.After(waitLong):
							errs <- fmt.Errorf("requester %d: no answer to %d", r, id)
							return
						}
						if binary.BigEndian.Uint64(got) != id {
							errs <- fmt.Errorf("requester %d got answer %d, want %d", r, binary.BigEndian.Uint64(got), id)
							return
						}
						if i%50 == 0 {
							a.Ping(wire.KindPing) // the PONG must not be taken for an answer
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			a.Close()
			if err := recvWithin(t, h.down, waitLong, "LinkDown"); err == nil {
				t.Error("LinkDown with a nil reason")
			}
		})
	}
}
