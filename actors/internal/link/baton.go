package link

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// The read baton: while a request waits for its answer on a link and no
// other goroutine reads it, the requester reads the link itself, so that
// the netpoller wakes the goroutine that waits for the answer, and no
// reader goroutine has to wake it (docs/links.md, "The read baton").
//
// The read side (the wire.Reader and everything the reader goroutine owns)
// belongs to whoever holds the baton:
//   - batonReader: the reader goroutine (readLoop);
//   - batonHeld: a requester, between Expect and the end of Await; it
//     reads frames and handles every one exactly as the reader would
//     (Link.frame), its answer among them;
//   - batonIdle: nobody. The reader handed the baton out after it answered
//     the last request that waited on the link, or a holder's request was
//     answered and nothing else waited. The next Expect takes it; a Send by
//     anyone else, the link's close, or the idle timer (within 2 x IdleFor
//     of the last request) gives it back to the reader.
//
// Hand-overs happen between frames only (wire.Reader.ReadBuffered and
// Fill leave no frame half consumed), under batonState.mu, which orders
// the goroutines' uses of the read side. A holder that cannot go on (a
// read error, a frame too big for the read buffer or a chunk, a handler's
// error, its ctx) gives the baton to the reader with what it found; the
// reader then sees the same stream and the same error as if it had read
// on.

// Baton owners.
const (
	batonReader = iota
	batonHeld
	batonIdle
)

// IdleFor is how often the idle timer looks at a baton that is out: one
// that stayed idle from one look to the next (no request took it) goes back
// to the reader. So a frame that nobody asked for (an actor's message, the
// end of the stream, hence IS_DEAD) waits less than 2 x IdleFor to be read
// after the last request on the link. The timer is not reset per round
// trip (that cost a request loop more than the baton saves): while requests
// come it fires once per IdleFor, and it stops once the baton is back.
// Shorter periods measured worse request tails (docs/links.md).
const IdleFor = 5 * time.Millisecond

// heldMaxFrame is the largest frame a holder reads into the read buffer;
// a bigger one is the reader's (its frame buffer, the chunk placement).
const heldMaxFrame = 64 << 10

// deadliner is a transport's read deadline, which interrupts a holder's
// read when its ctx is done.
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// batonState is a link's baton, kept in Link.
type batonState struct {
	mu      sync.Mutex
	owner   int
	gen     uint64 // counts hand-outs: the ticket of the current holder
	pending int    // requests counted by Expect and not yet Settled
	dl      deadliner
	dlSet   bool          // a deadline is set on the transport to interrupt the holder
	err     error         // what the holder leaves the reader: a handler's error
	idleT   *time.Timer   // gives an idle baton back to the reader, see IdleFor
	idleFor time.Duration // its period: Config.BatonIdle, IdleFor by default
	idleOn  bool          // idleT is pending
	idleGen uint64        // gen when idleT was armed
	back    chan struct{} // the reader waits here while the baton is out

	out      atomic.Bool  // owner != batonReader, for Send's look
	idle     atomic.Bool  // owner == batonIdle
	sends    atomic.Int32 // sends on the link since the holder took the baton
	stop     atomic.Bool  // the holder must give the baton up (its ctx, its answer from elsewhere)
	handling atomic.Bool  // the holder is handling a frame
	frames   atomic.Int64 // frames handled by holders, see HeldFrames
}

// HeldFrames returns how many frames requesters holding the baton have
// read and handled (for tests and metrics).
func (l *Link) HeldFrames() int64 { return l.baton.frames.Load() }

// init turns the baton on when dl can set read deadlines; idleFor is the
// idle timer's period (0: IdleFor).
func (b *batonState) init(dl deadliner, idleFor time.Duration) {
	b.back = make(chan struct{}, 1)
	b.idleFor = cmp.Or(idleFor, IdleFor)
	if dl != nil && dl.SetReadDeadline(time.Time{}) == nil {
		b.dl = dl
	}
}

// Expect counts a request that waits for its answer on l, until Settled.
// When nobody reads the link (the baton is idle) it gives the read side to
// the caller: the ticket is then not 0, and the caller must call Await
// with it (or Release) before anything else that could wait. Expect is
// safe for concurrent use.
func (l *Link) Expect() (ticket uint64) {
	b := &l.baton
	b.mu.Lock()
	b.pending++
	if b.owner == batonIdle {
		b.owner = batonHeld
		b.gen++
		ticket = b.gen
		b.idle.Store(false)
		b.stop.Store(false)
		b.sends.Store(0)
	}
	b.mu.Unlock()
	return ticket
}

// Settled ends a request counted by Expect: it was answered or failed, or
// its caller stopped waiting; ticket is Expect's. Called from another
// goroutine than the holder's while the holder reads, it makes the holder
// stop reading (the answer came some other way). Call it once per Expect.
func (l *Link) Settled(ticket uint64) {
	b := &l.baton
	b.mu.Lock()
	b.pending--
	if ticket != 0 && !b.handling.Load() {
		l.interruptLocked(ticket)
	}
	b.mu.Unlock()
}

// An Awaiter is what a holder waits for: Answered reports, between frames,
// whether its request is over.
type Awaiter interface{ Answered() bool }

// Await reads and handles the link's frames on the caller's goroutine
// until w is answered (it is asked between frames; the caller's
// answer is handled like any frame), ctx is done, or the holder must leave
// the stream to the reader; then it gives the baton up. With ticket 0 (the
// baton was not given) it returns at once. Either way the caller then
// waits for its answer the ordinary way, which returns at once when done.
func (l *Link) Await(ctx context.Context, ticket uint64, w Awaiter) {
	if ticket == 0 {
		return
	}
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { l.interrupt(ticket) })
	}
	toReader, err := l.readHeld(w)
	if stop != nil {
		stop()
	}
	l.giveUp(toReader, err)
}

// Release gives up a baton that Expect gave and Await will not use.
func (l *Link) Release(ticket uint64) {
	if ticket != 0 {
		l.giveUp(false, nil)
	}
}

// readHeld is the holder's loop. It returns whether the stream must go to
// the reader (toReader) and a handler's error, which closes the link.
func (l *Link) readHeld(w Awaiter) (toReader bool, err error) {
	b := &l.baton
	for !w.Answered() && !b.stop.Load() {
		start := l.r.Offset()
		f, ok, err := l.r.ReadBuffered()
		if err != nil {
			return true, nil // sticky: the reader's ReadFrame returns it
		}
		if !ok {
			if h, ok := l.r.NextHeader(); ok && (h.FrameLen() > heldMaxFrame || h.Kind() == wire.KindChunk) {
				return true, nil
			}
			if err := l.r.Fill(); err != nil {
				// A timeout is the interrupt; anything else is kept for
				// the reader's ReadFrame.
				return !isTimeout(err), nil
			}
			continue
		}
		b.frames.Add(1)
		b.handling.Store(true)
		err = l.frame(f, start)
		b.handling.Store(false)
		l.handOffRun() // RunAfter, RunWhenDry: the holder is no reader to run them
		l.yield, l.keep = false, false
		if err != nil {
			return true, err
		}
	}
	return false, nil
}

// giveUp ends a holder's turn: the baton goes idle when no request waits,
// nothing is buffered and the link is open, and to the reader otherwise.
func (l *Link) giveUp(toReader bool, err error) {
	b := &l.baton
	b.mu.Lock()
	if b.dlSet {
		_ = b.dl.SetReadDeadline(time.Time{})
		b.dlSet = false
	}
	if err != nil {
		b.err = err
	}
	// More than the holder's own request sent meanwhile: its answer may
	// be on the way, and must not wait for the watchdog.
	foreign := b.sends.Load() > 1
	if toReader || err != nil || foreign || b.pending > 0 || l.r.Buffered() > 0 || l.closing() {
		l.toReaderLocked()
	} else {
		b.owner = batonIdle
		b.out.Store(true)
		b.idle.Store(true)
		l.armIdleLocked()
	}
	b.mu.Unlock()
}

// handOut gives the baton out from the reader, after it answered a request
// (yieldIfAsked), when no other request waits and the baton is on. It
// reports whether it did: the reader must then awaitBaton.
func (l *Link) handOut() bool {
	b := &l.baton
	if b.dl == nil {
		return false
	}
	b.mu.Lock()
	out := b.pending == 0 && l.after == nil && !l.closing()
	if out {
		b.owner = batonIdle
		b.gen++
		b.out.Store(true)
		b.idle.Store(true)
		l.armIdleLocked()
	}
	b.mu.Unlock()
	return out
}

// awaitBaton parks the reader until the baton comes back, and returns what
// the holder left it (a handler's error). When the link is closed meanwhile
// the reader takes an idle baton back itself.
func (l *Link) awaitBaton() error {
	b := &l.baton
	quit := l.quit
	for {
		select {
		case <-b.back:
		case <-quit:
			quit = nil
			b.mu.Lock()
			if b.owner == batonIdle {
				l.toReaderLocked()
			}
			b.mu.Unlock()
		}
		b.mu.Lock()
		if b.owner == batonReader {
			err := b.err
			b.err = nil
			b.mu.Unlock()
			return err
		}
		b.mu.Unlock()
	}
}

// toReaderLocked gives the baton to the reader goroutine.
func (l *Link) toReaderLocked() {
	b := &l.baton
	b.owner = batonReader
	b.out.Store(false)
	b.idle.Store(false)
	select {
	case b.back <- struct{}{}:
	default:
	}
}

// sentWhileOut is Send's part while the baton is out: an idle baton goes
// back to the reader (whatever answers the send must be read), and a
// holder learns that more than its own request was sent.
func (l *Link) sentWhileOut() {
	b := &l.baton
	if !b.idle.Load() {
		b.sends.Add(1)
		return
	}
	b.mu.Lock()
	if b.owner == batonIdle {
		l.toReaderLocked()
	} else {
		b.sends.Add(1)
	}
	b.mu.Unlock()
}

// isTimeout reports whether err is a timeout (the holder's interrupt).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// interrupt makes the holder with ticket stop reading (its ctx is done).
func (l *Link) interrupt(ticket uint64) {
	l.baton.mu.Lock()
	l.interruptLocked(ticket)
	l.baton.mu.Unlock()
}

// interruptLocked stops the holder with ticket: a read deadline in the past
// wakes its read, which consumes nothing.
func (l *Link) interruptLocked(ticket uint64) {
	b := &l.baton
	if b.owner != batonHeld || b.gen != ticket {
		return
	}
	b.stop.Store(true)
	if !b.dlSet {
		_ = b.dl.SetReadDeadline(time.Unix(1, 0))
		b.dlSet = true
	}
}

// armIdleLocked makes sure the idle timer looks at a baton that just went
// idle: a pending timer will (it looks at gen), else one is started.
func (l *Link) armIdleLocked() {
	b := &l.baton
	if b.idleOn {
		return
	}
	b.idleOn, b.idleGen = true, b.gen
	if b.idleT == nil {
		b.idleT = time.AfterFunc(b.idleFor, l.idleExpired)
		return
	}
	b.idleT.Reset(b.idleFor)
}

// idleExpired is the idle timer's look: a baton idle since the last look
// (gen unchanged: Expect counts every taking) goes back to the reader; one
// taken since then is looked at again. A holder's baton needs no look: the
// holder arms the timer when it leaves the baton idle.
func (l *Link) idleExpired() {
	b := &l.baton
	b.mu.Lock()
	b.idleOn = false
	if b.owner == batonIdle {
		if b.gen == b.idleGen {
			l.toReaderLocked()
		} else {
			l.armIdleLocked()
		}
	}
	b.mu.Unlock()
}

// closing reports whether the link is being closed.
func (l *Link) closing() bool {
	select {
	case <-l.quit:
		return true
	default:
		return false
	}
}
