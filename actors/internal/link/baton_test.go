package link

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// Kinds of the baton tests: a request or its answer (body: the request's
// number, then how many other frames the peer sends before the answer), a
// frame for someone else (body: its sequence number), and a frame the
// handler refuses (it closes the link).
const (
	answerKind wire.Kind = testKind
	otherKind  wire.Kind = testKind + 1
	badKind    wire.Kind = testKind + 2
)

// waiter is one request's side in batonHandler.
type waiter struct {
	ch     chan []byte
	done   atomic.Bool
	ticket uint64
}

func (w *waiter) Answered() bool { return w.done.Load() }

// batonHandler plays package actors' part for the baton: it hands each
// answer to its waiter and settles it (lnk.Link.Settled) and asks the reader
// to yield, as onUser does; other frames must arrive in order of their
// sequence numbers, on whichever goroutine holds the read side.
type batonHandler struct {
	mu      sync.Mutex
	waiting map[uint64]*waiter
	next    uint64 // the sequence number the next other frame must have
	late    int    // answers whose requester had stopped waiting
	err     error  // the first frame out of order
	down    chan error
	others  chan uint64 // each other frame's number, when not nil
}

func newBatonHandler() *batonHandler {
	return &batonHandler{waiting: map[uint64]*waiter{}, next: 1, down: make(chan error, 1)}
}

func (h *batonHandler) HandleFrame(l *Link, f wire.Frame) error {
	b := f.Body()
	if len(b) < 8 {
		return fmt.Errorf("short body")
	}
	n := binary.BigEndian.Uint64(b)
	switch f.Header().Kind() {
	case badKind:
		return errors.New("refused frame")
	case otherKind:
		h.mu.Lock()
		if n != h.next && h.err == nil {
			h.err = fmt.Errorf("other frame %d, want %d", n, h.next)
		}
		h.next = n + 1
		h.mu.Unlock()
		if h.others != nil {
			h.others <- n
		}
		return nil
	}
	h.mu.Lock()
	w := h.waiting[n]
	delete(h.waiting, n)
	if w == nil {
		h.late++
	}
	h.mu.Unlock()
	if w != nil {
		w.ch <- append([]byte(nil), b...)
		w.done.Store(true)
		l.Settled(w.ticket)
		l.YieldAfter()
	}
	return nil
}

func (h *batonHandler) LinkDown(_ *Link, reason error) { h.down <- reason }

func (h *batonHandler) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		t.Error(h.err)
	}
}

// request sends request id (the peer sends others frames before its
// answer) and waits for the answer as package actors does: Expect before
// the send, Await, then the channel.
func (h *batonHandler) request(ctx context.Context, l *Link, id uint64, others byte) ([]byte, error) {
	w := &waiter{ch: make(chan []byte, 1)}
	w.ticket = l.Expect()
	h.mu.Lock()
	h.waiting[id] = w
	h.mu.Unlock()
	var body [9]byte
	binary.BigEndian.PutUint64(body[:], id)
	body[8] = others
	if err := l.Send(frameOf(answerKind, body[:]), Inline); err != nil {
		h.abandon(l, id, w)
		l.Release(w.ticket)
		return nil, err
	}
	l.Await(ctx, w.ticket, w)
	select {
	case got := <-w.ch:
		return got, nil
	case <-ctx.Done():
		h.abandon(l, id, w)
		return nil, ctx.Err()
	}
}

// abandon settles a request that the handler has not answered.
func (h *batonHandler) abandon(l *Link, id uint64, w *waiter) {
	h.mu.Lock()
	mine := h.waiting[id] == w
	delete(h.waiting, id)
	h.mu.Unlock()
	if mine {
		l.Settled(w.ticket)
	}
}

// peerHandler answers each request after the other frames it asks for,
// all queued, as a reader must send.
type peerHandler struct {
	*fakeHandler
	seq atomic.Uint64
}

func (h *peerHandler) HandleFrame(l *Link, f wire.Frame) error {
	b := f.Body()
	if len(b) < 9 {
		return h.fakeHandler.HandleFrame(l, f)
	}
	for range b[8] {
		var ob [8]byte
		binary.BigEndian.PutUint64(ob[:], h.seq.Add(1))
		if err := l.Send(frameOf(otherKind, ob[:]), Queued); err != nil {
			return nil
		}
	}
	_ = l.Send(frameOf(answerKind, b[:8]), Queued)
	return nil
}

func batonPairOthers(t *testing.T, ct connType) (*Link, *batonHandler, *Link) {
	return batonPairWith(t, ct, withOthers)
}

func batonPair(t *testing.T, ct connType) (*Link, *batonHandler, *Link) {
	return batonPairWith(t, ct, nil)
}

// withOthers makes a batonHandler report every other frame's number.
func withOthers(h *batonHandler) { h.others = make(chan uint64, 16) }

func batonPairWith(t *testing.T, ct connType, set func(*batonHandler)) (*Link, *batonHandler, *Link) {
	ta, tb := ct.make(t)
	a, h := batonLink(t, ta, stayIdle, set)
	b := startLink(t, tb, Config{Local: 2, Peer: 1}, &peerHandler{fakeHandler: newFakeHandler()})
	return a, h, b
}

// batonRaw is a link with a batonHandler (set, when not nil, adjusts it)
// and an idle timer of period idle (0: IdleFor) against a raw peer, whose
// own reading end discards what the link sends.
func batonRaw(t *testing.T, ct connType, idle time.Duration, set func(*batonHandler)) (*Link, *batonHandler, *rawEnd) {
	ta, tb := ct.make(t)
	a, h := batonLink(t, ta, idle, set)
	peer := newRawEnd(t, tb)
	go func() { _, _ = io_Copy(tb) }()
	return a, h, peer
}

func batonLink(t *testing.T, tr Transport, idle time.Duration, set func(*batonHandler)) (*Link, *batonHandler) {
	h := newBatonHandler()
	if set != nil {
		set(h)
	}
	return startLink(t, tr, Config{Local: 1, Peer: 2, BatonIdle: idle}, h), h
}

// stayIdle is the idle timer's period for tests whose steps need an idle
// baton to stay idle between two requests, however slow the machine (the
// default, IdleFor, would give it back to the reader after a few ms).
const stayIdle = time.Hour

// TestLink_BatonConcurrentRequesters: requesters at once on one link, with
// frames for someone else before every answer: each requester gets its
// own answers, the other frames are handled exactly once and in order
// whichever goroutine read them, requesters did read the link (the
// baton), PINGs in between are answered, and LinkDown comes once.
func TestLink_BatonConcurrentRequesters(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, _ := batonPair(t, ct)
			const requesters, each = 6, 300
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, requesters+1)
			for r := range requesters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						id := uint64(r*each + i)
						got, err := h.request(ctx, a, id, byte(i%3))
						if err != nil {
							errs <- fmt.Errorf("requester %d, request %d: %w", r, id, err)
							return
						}
						if binary.BigEndian.Uint64(got) != id {
							errs <- fmt.Errorf("requester %d got answer %d, want %d", r, binary.BigEndian.Uint64(got), id)
							return
						}
						if i%100 == 0 {
							a.Ping(wire.KindPing)
						}
					}
				}()
			}
			// And one requester alone, so that the baton goes out.
			wg.Wait()
			for i := range 200 {
				if _, err := h.request(ctx, a, uint64(1e6+i), byte(i%2)); err != nil {
					errs <- err
					break
				}
			}
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			h.check(t)
			if a.HeldFrames() == 0 {
				t.Error("no requester read the link itself")
			}
			a.Close()
			if err := recvWithin(t, h.down, waitLong, "LinkDown"); err == nil {
				t.Error("LinkDown with a nil reason")
			}
		})
	}
}

// TestLink_BatonCancelRacesAnswer: requests whose ctx ends at about the time
// their answer arrives. Whatever wins, the stream stays whole: no frame is
// lost or handled twice, no deadline is left on the transport (the next
// requests are answered), and the link stays up.
func TestLink_BatonCancelRacesAnswer(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, _ := batonPair(t, ct)
			rng := rand.New(rand.NewPCG(1, 2))
			cancelled := 0
			for i := range 400 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(60))*time.Microsecond)
				_, err := h.request(ctx, a, uint64(i), byte(i%3))
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("request %d: %v", i, err)
					}
					cancelled++
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			for i := range 50 {
				if _, err := h.request(ctx, a, uint64(1e6+i), 1); err != nil {
					t.Fatalf("request after the races: %v", err)
				}
			}
			h.check(t)
			select {
			case err := <-h.down:
				t.Fatalf("link down: %v", err)
			default:
			}
			t.Logf("%d of 400 cancelled, %d frames read by requesters", cancelled, a.HeldFrames())
		})
	}
}

// TestLink_BatonPeerDiesMidRequest: the peer goes away while a requester
// holds the read side and waits: the requester is released, and the link
// goes down at once (LinkDown once, with the end of the stream), not at
// the requester's ctx.
func TestLink_BatonPeerDiesMidRequest(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, peer := batonRaw(t, ct, stayIdle, nil)
			// A first answer sends the baton out; the second request holds it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			first := make(chan error, 1)
			go func() { _, err := h.request(ctx, a, 1, 0); first <- err }()
			waitFor(t, func() bool { return h.waitingFor(1) })
			if err := peer.write(frameOf(answerKind, be64(1))); err != nil {
				t.Fatal(err)
			}
			if err := recvWithin(t, first, waitLong, "the first answer"); err != nil {
				t.Fatal(err)
			}
			second := make(chan error, 1)
			go func() { _, err := h.request(ctx, a, 2, 0); second <- err }()
			waitFor(t, func() bool { return h.waitingFor(2) })
			_ = peer.tr.C.Close()
			recvWithin(t, h.down, waitLong, "LinkDown")
			// The requester returns once the link is gone (here its
			// answer never comes: package actors fails it in LinkDown).
			h.mu.Lock()
			w := h.waiting[2]
			h.mu.Unlock()
			w.done.Store(true) // what failing it does
			a.Settled(w.ticket)
			cancel()
			recvWithin(t, second, waitLong, "the second requester")
			a.Close()
		})
	}
}

// TestLink_BatonHostilePeerFloods: a peer that floods frames for someone
// else, a frame too big for a holder, a chunk, and never answers: the
// requester holding the read side handles what arrives in order, leaves
// the big frames to the reader, and returns at its ctx; everything sent is
// handled exactly once, in order, and the link stays up.
func TestLink_BatonHostilePeerFloods(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, peer := batonRaw(t, ct, stayIdle, nil)
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			// Send the baton out first.
			done := make(chan error, 1)
			go func() { _, err := h.request(ctx, a, 1, 0); done <- err }()
			waitFor(t, func() bool { return h.waitingFor(1) })
			_ = peer.write(frameOf(answerKind, be64(1)))
			if err := recvWithin(t, done, waitLong, "the first answer"); err != nil {
				t.Fatal(err)
			}
			const flood = 20000
			stop := make(chan struct{})
			flooded := make(chan struct{})
			go func() {
				defer close(flooded)
				big := make([]byte, heldMaxFrame+100)
				for i := uint64(1); i <= flood; i++ {
					body := be64(i)
					if i%997 == 0 {
						body = append(body, big...) // too big for a holder
					}
					if err := peer.write(frameOf(otherKind, body)); err != nil {
						return
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
			for i := range 20 {
				short, cancel := context.WithTimeout(ctx, time.Millisecond)
				_, err := h.request(short, a, uint64(100+i), 0)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("request %d under the flood: %v, want its deadline", i, err)
				}
			}
			<-flooded
			close(stop)
			waitFor(t, func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return h.next == flood+1 || h.err != nil
			})
			h.check(t)
			// Still up: an answer reaches its requester.
			go func() { _, err := h.request(ctx, a, 7, 0); done <- err }()
			waitFor(t, func() bool { return h.waitingFor(7) })
			_ = peer.write(frameOf(answerKind, be64(7)))
			if err := recvWithin(t, done, waitLong, "the answer after the flood"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-h.down:
				t.Fatalf("link down: %v", err)
			default:
			}
			a.Close()
		})
	}
}

// TestLink_BatonIdleGoesBackToReader: once the last request is answered
// nobody reads the link (the baton is idle); the answer to a frame that
// anyone else sends then is still handled (the send gives the baton back
// to the reader).
func TestLink_BatonIdleGoesBackToReader(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, _ := batonPairOthers(t, ct)
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			for i := range 3 {
				if _, err := h.request(ctx, a, uint64(i), 0); err != nil {
					t.Fatal(err)
				}
			}
			if a.HeldFrames() == 0 {
				t.Fatal("the baton never went out")
			}
			// The peer speaks unasked: a request frame with no waiter
			// answered with one other frame, sent by a plain Send.
			var body [9]byte
			binary.BigEndian.PutUint64(body[:], 99)
			body[8] = 1
			if err := a.Send(frameOf(answerKind, body[:]), Inline); err != nil {
				t.Fatal(err)
			}
			recvWithin(t, h.others, waitLong, "the other frame after a send")
			for i := range 3 {
				if _, err := h.request(ctx, a, uint64(10+i), 0); err != nil {
					t.Fatal(err)
				}
			}
			h.check(t)
			a.Close()
		})
	}
}

// TestLink_BatonIdleTimer: with the baton idle and nobody sending, a frame
// from the peer is handled (the idle timer gives the baton back to the
// reader; without it nobody would ever read the frame).
func TestLink_BatonIdleTimer(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, peer := batonRaw(t, ct, 0, withOthers)
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			for i := range 3 {
				done := make(chan error, 1)
				go func() { _, err := h.request(ctx, a, uint64(i), 0); done <- err }()
				waitFor(t, func() bool { return h.waitingFor(uint64(i)) })
				_ = peer.write(frameOf(answerKind, be64(uint64(i))))
				if err := recvWithin(t, done, waitLong, "an answer"); err != nil {
					t.Fatal(err)
				}
			}
			_ = peer.write(frameOf(otherKind, be64(1)))
			recvWithin(t, h.others, waitLong, "the frame sent to an idle baton")
			h.check(t)
			a.Close()
		})
	}
}

// TestLink_BatonHolderRefusedFrame: a frame its handler refuses, read by a
// requester holding the read side, closes the link with the handler's
// reason, reported once by LinkDown, and releases the requester.
func TestLink_BatonHolderRefusedFrame(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, peer := batonRaw(t, ct, stayIdle, nil)
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			done := make(chan error, 1)
			go func() { _, err := h.request(ctx, a, 1, 0); done <- err }()
			waitFor(t, func() bool { return h.waitingFor(1) })
			_ = peer.write(frameOf(answerKind, be64(1)))
			recvWithin(t, done, waitLong, "the first answer")
			held := a.HeldFrames()
			go func() { _, err := h.request(ctx, a, 2, 0); done <- err }()
			waitFor(t, func() bool { return h.waitingFor(2) })
			_ = peer.write(frameOf(otherKind, be64(1)))
			_ = peer.write(frameOf(badKind, be64(0)))
			reason := recvWithin(t, h.down, waitLong, "LinkDown")
			if reason == nil || reason.Error() != "refused frame" {
				t.Errorf("LinkDown reason %v, want the handler's", reason)
			}
			if a.HeldFrames() == held {
				t.Error("the frames were not read by the requester")
			}
			h.mu.Lock()
			w := h.waiting[2]
			h.mu.Unlock()
			w.done.Store(true)
			a.Settled(w.ticket)
			cancel()
			recvWithin(t, done, waitLong, "the second requester")
			a.Close()
		})
	}
}

// TestLink_BatonCloseWhileHeld: Close while a requester holds the read side
// returns, and the requester is released.
func TestLink_BatonCloseWhileHeld(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, peer := batonRaw(t, ct, stayIdle, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			done := make(chan error, 1)
			go func() { _, err := h.request(ctx, a, 1, 0); done <- err }()
			waitFor(t, func() bool { return h.waitingFor(1) })
			_ = peer.write(frameOf(answerKind, be64(1)))
			recvWithin(t, done, waitLong, "the first answer")
			go func() { _, err := h.request(ctx, a, 2, 0); done <- err }()
			waitFor(t, func() bool { return h.waitingFor(2) })
			closed := make(chan struct{})
			go func() { a.Close(); close(closed) }()
			recvWithin(t, closed, waitLong, "Close")
			recvWithin(t, h.down, waitLong, "LinkDown")
			cancel()
			recvWithin(t, done, waitLong, "the requester")
		})
	}
}

func (h *batonHandler) waitingFor(id uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiting[id] != nil
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// TestLink_BatonCtxEndsSilentWait: a requester holding the read side of a
// silent link returns at its ctx (the read is interrupted between frames),
// and the stream goes on unharmed: a frame cut in two around the
// interrupt, and the frames after it, are handled whole and in order, and
// the next request is answered.
func TestLink_BatonCtxEndsSilentWait(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			a, h, peer := batonRaw(t, ct, stayIdle, withOthers)
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			answer := func(id uint64) {
				t.Helper()
				done := make(chan error, 1)
				go func() { _, err := h.request(ctx, a, id, 0); done <- err }()
				waitFor(t, func() bool { return h.waitingFor(id) })
				_ = peer.write(frameOf(answerKind, be64(id)))
				if err := recvWithin(t, done, waitLong, "an answer"); err != nil {
					t.Fatal(err)
				}
			}
			answer(1) // the baton goes out
			cut := frameOf(otherKind, be64(1))
			for i := range 5 {
				if i == 2 {
					_ = peer.write(cut[:wire.HeaderSize+3]) // half a frame
				}
				short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
				_, err := h.request(short, a, uint64(10+i), 0)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("request %d on a silent link: %v, want its deadline", i, err)
				}
			}
			_ = peer.write(cut[wire.HeaderSize+3:])
			_ = peer.write(frameOf(otherKind, be64(2)))
			recvWithin(t, h.others, waitLong, "the cut frame")
			recvWithin(t, h.others, waitLong, "the frame after it")
			answer(2)
			h.check(t)
			select {
			case err := <-h.down:
				t.Fatalf("link down: %v", err)
			default:
			}
			a.Close()
		})
	}
}
