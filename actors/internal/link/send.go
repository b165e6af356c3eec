package link

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spindle-go/spindle/wire"
)

// ErrCongested is the error of a NoWait or Control send that finds its
// queue over the limit: the frame was not queued. Package actors exports it
// as actors.ErrCongested and fails a forwarded frame back to its sender
// with it.
var ErrCongested = errors.New("actors: link congested")

// inlineIdle is how long a link must have been quiet for a sender to write
// its frame itself instead of handing it to the writer goroutine. A quiet
// link is in request/response mode, where the hand-off costs latency; a
// busy one is in streaming mode, where the writer batches frames into few
// writes.
const inlineIdle = 20 * time.Microsecond

// Mode says how Send may treat its caller.
type Mode uint8

const (
	// Queued only appends to the bulk queue, waiting for room while it is
	// over its limit (backpressure). A reader goroutine may use it only
	// toward its own link.
	Queued Mode = iota
	// Inline is Queued, except that it may write the frame from the
	// caller's goroutine when the link is idle (user and actor sends). The
	// inline write never waits for the peer: what the kernel does not take
	// at once is left to the writer goroutine.
	Inline
	// Control goes to the control queue, which the writer empties before
	// bulk and between two pieces of it. It never waits and is never
	// chunked; over the limit it fails with ErrCongested (heartbeats,
	// route updates, dead replies, SHUTDOWN).
	Control
	// NoWait is Queued without the wait: over the limit it fails with
	// ErrCongested. Frames a reader goroutine forwards to another link go
	// NoWait, so that no link's reader ever waits on another link's queue.
	NoWait
	// Bounded is Inline for sends made by actors (protoactor's sends to a
	// remote PID, Respond included): it waits for room at most BoundedWait,
	// then fails with ErrCongested and marks the link congested; while it
	// is, Bounded sends fail at once until the bulk queue is below half its
	// limit. A context that stops reading can so hold an actor that answers
	// it (one shared by the whole tree) for BoundedWait once, not once per
	// message.
	Bounded
)

// BoundedWait is the longest a Bounded send waits for room.
const BoundedWait = time.Second

// Send queues one encoded frame, or writes it at once when the link is idle
// and mode allows it. A bulk frame longer than wire.DefaultChunkSize is
// queued as CHUNK frames, so control frames can pass it. Send does not keep
// frame, so the caller may reuse it. In modes Queued and Inline it blocks
// while the bulk queue is over its limit (backpressure); it returns
// ErrClosed (or the link's cause) once the link is closed.
func (l *Link) Send(frame []byte, mode Mode) error {
	return l.SendContext(context.Background(), frame, nil, mode)
}

// SendFDs is Send for a frame that carries descriptors (fds may be nil).
// The descriptors are this side's duplicates: SendFDs owns them and closes
// them once they are sent or cannot be. A link that cannot carry them
// fails with ErrNoFDPassing; a frame that carries them is never chunked.
func (l *Link) SendFDs(frame []byte, fds []int, mode Mode) error {
	return l.SendContext(context.Background(), frame, fds, mode)
}

// SendContext is SendFDs that stops waiting for room when ctx is done and
// then returns ctx's error (the frame was not queued).
func (l *Link) SendContext(ctx context.Context, frame []byte, fds []int, mode Mode) error {
	return l.send(ctx, wire.Pieces{Buf: frame}, fds, mode)
}

// send is SendContext for a frame in pieces (pieces.go); a frame with
// descriptors is in one piece.
func (l *Link) send(ctx context.Context, p wire.Pieces, fds []int, mode Mode) error {
	if l.baton.out.Load() { // someone else reads the link, or nobody (baton.go)
		l.sentWhileOut()
	}
	if len(p.Gaps) > 0 && (l.raw == nil || len(fds) > 0) {
		p = wire.Pieces{Buf: p.AppendTo(nil)} // no writev: one buffer
	}
	frame := p.Buf
	if len(fds) > 0 {
		if !l.fdOK {
			CloseFDs(fds)
			return ErrNoFDPassing
		}
		if len(frame) > MaxFDFrame {
			CloseFDs(fds)
			return fmt.Errorf("%w: a message with descriptors may be %d bytes at most, this one is %d",
				wire.ErrFrameTooLarge, MaxFDFrame, len(frame))
		}
	}
	size := p.Len()
	// Chunks in transit are forwarded as they are.
	chunked := mode != Control && size > wire.DefaultChunkSize+wire.HeaderSize &&
		wire.Header(frame).Kind() != wire.KindChunk
	if chunked {
		size = wire.ChunkedLen(size, wire.DefaultChunkSize)
	}
	// A chunked frame goes inline only as a writev of chunk headers and
	// slices of frame (writePiecesInline), on a non-blocking descriptor.
	mayInline := (mode == Inline || mode == Bounded) && (!chunked || (l.raw != nil && len(fds) == 0))
	l.mu.Lock()
	if err := l.room(ctx, mode, size); err != nil {
		l.mu.Unlock()
		CloseFDs(fds)
		return err
	}
	l.countOut(frame, size)
	// A frame read since the last send: this one answers it (request and
	// response), and waits for nothing a batch could add. Only a write
	// that never waits for the peer may go inline then, as the sender can
	// be an actor run on a reader goroutine.
	rx := l.rx.Load()
	answers := rx != l.rxSeen && l.raw != nil
	l.rxSeen = rx
	empty := len(l.ctrl) == 0 && l.bulk.Len() == 0
	// The clock is read only by a send that may go inline: one that joins
	// a queue is stamped by the writer, when it writes the batch (a
	// streaming sender reads no clock per frame).
	if mayInline && empty && !l.writing && len(l.partial) == 0 {
		now := int64(time.Since(l.epoch))
		idle := now-l.lastSend > int64(inlineIdle)
		l.lastSend = now
		if idle || answers {
			if chunked || len(p.Gaps) > 0 {
				return l.writePiecesInline(p, chunked, size)
			}
			return l.writeInline(frame, fds)
		}
	}
	l.bigSend = max(l.bigSend, size)
	switch {
	case len(fds) > 0:
		l.fdq = append(l.fdq, fdFrame{off: l.bulk.Len(), fds: fds})
		l.bulk.append(p)
	case mode == Control:
		l.ctrl = p.AppendTo(l.ctrl)
	case chunked:
		l.bulk.appendChunks(p, size)
	default:
		l.bulk.append(p)
	}
	l.noteQueue()
	l.mu.Unlock()
	if empty {
		l.wake.Broadcast()
	}
	return nil
}

// room waits, in modes that wait, until the queue of mode has room for size
// more bytes (a queue that is empty always has), or fails with
// ErrCongested in modes that do not; it returns the link's cause once it is
// closed, and ctx's error once ctx is done. l.mu is held.
func (l *Link) room(ctx context.Context, mode Mode, size int) error {
	full := func() bool {
		if mode == Control {
			return len(l.ctrl) > 0 && len(l.ctrl)+size > l.maxQueue
		}
		return l.bulk.Len() > 0 && l.bulk.Len()+size > l.maxQueue
	}
	if mode == Bounded && l.congested {
		if l.bulk.Len() > l.maxQueue/2 {
			return ErrCongested
		}
		l.congested = false
	}
	waited := false
	if !l.closed && full() {
		if mode == Control || mode == NoWait {
			return ErrCongested
		}
		waited = true
		wakeUp := func() {
			l.mu.Lock()
			l.wake.Broadcast()
			l.mu.Unlock()
		}
		if ctx.Done() != nil {
			defer context.AfterFunc(ctx, wakeUp)()
		}
		var expired atomic.Bool
		if mode == Bounded {
			t := time.AfterFunc(BoundedWait, func() { expired.Store(true); wakeUp() })
			defer t.Stop()
		}
		for !l.closed && full() && ctx.Err() == nil && !expired.Load() {
			l.wake.Wait()
		}
		if !l.closed && full() && ctx.Err() == nil {
			l.congested = true // only a Bounded wait ends this way
			return ErrCongested
		}
	}
	if l.closed {
		if l.cause == nil {
			return ErrClosed
		}
		return l.cause
	}
	if waited {
		return ctx.Err()
	}
	return nil
}

// writeInline writes frame from the sender's goroutine. l.mu is held on
// entry and released on return. Frames queued meanwhile are left to the
// writer goroutine, which waits while a write is in progress. When the
// transport has a descriptor, the write never waits for the peer: the bytes
// the kernel does not take at once stay in l.partial for the writer
// goroutine, which writes them before anything else.
func (l *Link) writeInline(frame []byte, fds []int) error {
	l.writing = true
	l.mu.Unlock()
	var n int
	var err error
	switch {
	case l.raw != nil:
		n, err = l.tryWrite(frame, fds)
	case len(fds) > 0:
		err = l.writeFDs(frame, fds)
		n = len(frame)
	default:
		n, err = l.lw.Write(frame)
	}
	l.mu.Lock()
	l.writing = false
	switch {
	case err != nil || n == len(frame):
	case l.closed:
		if n == 0 {
			CloseFDs(fds)
		}
	default:
		l.partial = append(l.partial[:0], frame[n:]...)
		if n == 0 && len(fds) > 0 {
			l.partialFDs = fds // not sent: they go with the frame's first byte
		}
	}
	pending := len(l.ctrl) > 0 || l.bulk.Len() > 0 || len(l.partial) > 0
	l.mu.Unlock()
	if err != nil {
		l.Shutdown(err)
		l.mu.Lock()
		err = l.cause // the first cause: a heartbeat timeout closes the stream under us
		l.mu.Unlock()
		return err
	}
	if pending {
		l.wake.Broadcast()
	}
	return nil
}

// tryWrite writes what the kernel takes of frame (with its descriptors,
// which it closes once sent) without waiting, and returns how much that
// was. Only the goroutine that set l.writing calls it.
func (l *Link) tryWrite(frame []byte, fds []int) (int, error) {
	l.try = tryState{buf: frame, fds: fds}
	if err := l.raw.Write(l.tryFn); err != nil {
		l.try.err = err
	}
	t := l.try
	l.try = tryState{}
	if t.n > 0 || t.err != nil {
		CloseFDs(fds) // sent with the first bytes, or never
	}
	return t.n, t.err
}

// tryWritev is tryWrite for a frame in pieces (no descriptors).
func (l *Link) tryWritev(iov [][]byte) (int, error) {
	l.try = tryState{iov: iov}
	if err := l.raw.Write(l.tryvFn); err != nil {
		l.try.err = err
	}
	t := l.try
	l.try = tryState{}
	return t.n, t.err
}

// tryvOnce is tryOnce for l.try.iov: writev until the kernel would block.
func (l *Link) tryvOnce(fd uintptr) bool {
	t := &l.try
	iov := t.iov
	for len(iov) > 0 {
		n, err := writev(int(fd), iov)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return true
		}
		if err != nil {
			t.err = err
			return true
		}
		t.n += n
		for len(iov) > 0 && n >= len(iov[0]) {
			n -= len(iov[0])
			iov = iov[1:]
		}
		if len(iov) > 0 && n > 0 {
			iov = append([][]byte{iov[0][n:]}, iov[1:]...)
		}
	}
	return true
}

// tryState is one inline write attempt, handed to tryOnce.
type tryState struct {
	iov [][]byte // tryvOnce's pieces
	buf []byte
	fds []int
	n   int
	err error
}

// tryOnce is the syscall.RawConn callback of tryWrite: it writes until the
// kernel would block, and never asks RawConn to wait.
func (l *Link) tryOnce(fd uintptr) bool {
	t := &l.try
	for t.n < len(t.buf) {
		var n int
		var err error
		if t.n == 0 && len(t.fds) > 0 {
			n, err = unix.SendmsgN(int(fd), t.buf, unix.UnixRights(t.fds...), nil, 0)
		} else {
			n, err = unix.Write(int(fd), t.buf[t.n:])
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return true
		}
		if err != nil {
			t.err = err
			return true
		}
		t.n += n
	}
	return true
}

// rawConnOf returns the raw descriptor of w when it has one that is in
// non-blocking mode, or nil.
func rawConnOf(w any) syscall.RawConn {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	nonblock := false
	if err := rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonblock = err == nil && fl&unix.O_NONBLOCK != 0
	}); err != nil || !nonblock {
		return nil
	}
	return rc
}

func (l *Link) writeLoop() {
	defer l.wg.Done()
	var ctrl []byte   // spare buffer, swapped with the control queue
	var bulk [][]byte // spare list of blocks, swapped with the bulk queue's
	var fdq []fdFrame
	for {
		l.mu.Lock()
		for !l.closed && !l.release.due && (l.writing || l.idleLocked()) {
			l.wake.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		if l.release.due && (l.writing || l.idleLocked()) {
			l.release.due = false
			if !l.writing {
				ctrl, fdq = l.releaseLocked(ctrl, fdq)
			}
			l.mu.Unlock()
			continue
		}
		l.release.due = false // traffic came back: the next drain decides
		part := pending{buf: l.partial, fds: l.partialFDs}
		l.partial, l.partialFDs = nil, nil
		ctrl, l.ctrl = l.ctrl, ctrl[:0]
		bulk = l.bulk.take(bulk)
		fdq, l.fdq = l.fdq, fdq[:0]
		l.writing = true
		l.mu.Unlock()
		l.wake.Broadcast() // room for blocked senders

		err := l.writeBatch(part, ctrl, bulk, fdq)
		clear(fdq)
		now := int64(time.Since(l.epoch))
		l.mu.Lock()
		l.writing = false
		l.lastSend = max(l.lastSend, now) // the queued frames' send time, for the idle test
		if !l.closed {
			// Blocks for the senders: the queue and its free blocks stay
			// within the bulk limit.
			l.bulk.recycle(bulk, l.maxQueue-l.bulk.Len())
		}
		bulk = bulk[:0]
		if cap(bulk) > keepFDQueue<<4 {
			bulk = nil // a long list of blocks after a burst
		}
		if err == nil && l.idleLocked() {
			if l.oversizeLocked(ctrl, fdq) {
				l.deferReleaseLocked()
			} else {
				ctrl, fdq = l.releaseLocked(ctrl, fdq)
			}
		}
		l.mu.Unlock()
		if err != nil {
			l.Shutdown(err)
			return
		}
	}
}

// keepQueueBuf is the least queue buffer a link keeps once its queues
// have drained. A burst grows the queues (the bulk queue's blocks up to the
// bulk limit, queued and free together, plus the batch the writer is
// writing; the control queue's two buffers, swapped with the writer's); a
// drained link keeps buffers (and free blocks) of at most twice its largest
// recent frame, or keepQueueBuf, and gives the rest back,
// so a burst of small messages leaves nothing behind while a link that
// carries 1 MiB messages back and forth does not reallocate for each one.
const keepQueueBuf = 64 << 10

// keepFDQueue is the same bound for the queue of descriptor records.
const keepFDQueue = 64

// releaseAfter is how long a drained link keeps queue buffers bigger than
// it needs (see keepQueueBuf) before it gives them back. A stream drains
// its link's queue at every turn of its credit window: giving the buffers
// back at each drain made it regrow them from nothing each time (a quarter
// of the sender's CPU in growslice). A burst followed by quiet returns
// them one to two delays after its last drain.
const releaseAfter = 20 * time.Millisecond

// releaseState is the deferred release of a link's queue buffers; l.mu
// guards it.
type releaseState struct {
	timer  *time.Timer
	armed  bool   // timer will fire
	due    bool   // the timer fired: the writer releases when the queues are idle
	drains uint64 // drains that kept oversize buffers; the timer re-arms if it moved
	seen   uint64 // drains when the timer was armed
}

// oversizeLocked reports whether a drained link holds queue buffers that
// releaseLocked would give back. l.mu is held.
func (l *Link) oversizeLocked(ctrl []byte, fdq []fdFrame) bool {
	keep := max(keepQueueBuf, 2*l.bigSend)
	return cap(ctrl) > keep || cap(l.ctrl) > keep || l.bulk.freeN > keep ||
		cap(fdq) > keepFDQueue || cap(l.fdq) > keepFDQueue
}

// deferReleaseLocked keeps a drained link's oversize buffers for now and
// makes sure the writer releases them once the link has had no oversize
// drain for releaseAfter. l.mu is held.
func (l *Link) deferReleaseLocked() {
	r := &l.release
	r.drains++
	if r.armed {
		return
	}
	r.armed, r.seen = true, r.drains
	if r.timer == nil {
		r.timer = time.AfterFunc(releaseAfter, l.releaseTick)
	} else {
		r.timer.Reset(releaseAfter)
	}
}

// releaseTick runs on the timer: the link has been busy since the timer
// was armed (wait again) or has not (let the writer release).
func (l *Link) releaseTick() {
	l.mu.Lock()
	r := &l.release
	if l.closed {
		r.armed = false
		l.mu.Unlock()
		return
	}
	if r.drains != r.seen {
		r.seen = r.drains
		r.timer.Reset(releaseAfter)
		l.mu.Unlock()
		return
	}
	r.armed, r.due = false, true
	l.mu.Unlock()
	l.wake.Broadcast()
}

// idleLocked reports whether nothing waits to be written. l.mu is held.
func (l *Link) idleLocked() bool {
	return len(l.partial) == 0 && len(l.ctrl) == 0 && l.bulk.Len() == 0
}

// releaseLocked drops the writer's spare buffers and the empty queues that
// are bigger than the link needs now (see keepQueueBuf); appends grow them
// again on demand. l.mu is held and the queues are empty.
func (l *Link) releaseLocked(ctrl []byte, fdq []fdFrame) ([]byte, []fdFrame) {
	keep := max(keepQueueBuf, 2*l.bigSend)
	l.bigSend = 0
	drop := func(b []byte) []byte {
		if cap(b) > keep {
			return nil
		}
		return b
	}
	ctrl, l.ctrl = drop(ctrl), drop(l.ctrl)
	l.bulk.release(keep)
	if cap(fdq) > keepFDQueue {
		fdq = nil
	}
	if cap(l.fdq) > keepFDQueue {
		l.fdq = nil
	}
	return ctrl, fdq
}

// pending is the rest of a frame an inline write began (with its
// descriptors when none of it was written).
type pending struct {
	buf []byte
	fds []int
}

// writePiece is the most bulk data the writer writes between two looks at
// the control queue.
const writePiece = 256 << 10

// writeBatch writes the rest of a frame begun inline, the control frames,
// then the bulk blocks, each in pieces of at most writePiece bytes cut at
// frame boundaries, writing whatever control frames were queued meanwhile
// between two pieces.
func (l *Link) writeBatch(part pending, ctrl []byte, blocks [][]byte, fdq []fdFrame) (err error) {
	defer func() {
		CloseFDs(part.fds)
		for _, q := range fdq { // not sent: the link failed
			CloseFDs(q.fds)
		}
	}()
	if len(part.fds) > 0 {
		fds := part.fds
		part.fds = nil
		if err := l.writeFDs(part.buf, fds); err != nil {
			return err
		}
	} else if len(part.buf) > 0 {
		if _, err := l.lw.Write(part.buf); err != nil {
			return err
		}
	}
	if len(ctrl) > 0 {
		if _, err := l.lw.Write(ctrl); err != nil {
			return err
		}
	}
	var more []byte
	pos := 0 // offset of the block in the batch, to meet the fdq offsets
	for i, bulk := range blocks {
		for len(bulk) > 0 {
			if len(fdq) > 0 && fdq[0].off == pos {
				// A frame with descriptors goes alone in one sendmsg.
				n := wire.Header(bulk).FrameLen()
				fds := fdq[0].fds
				fdq = fdq[1:]
				if err := l.writeFDs(bulk[:n], fds); err != nil {
					return err
				}
				bulk, pos = bulk[n:], pos+n
			} else {
				plain := bulk
				if len(fdq) > 0 && fdq[0].off-pos < len(bulk) {
					plain = bulk[:fdq[0].off-pos]
				}
				n := len(plain)
				if n > writePiece {
					n = pieceEnd(plain)
				}
				if _, err := l.lw.Write(bulk[:n]); err != nil {
					return err
				}
				bulk, pos = bulk[n:], pos+n
			}
			if len(bulk) == 0 && i == len(blocks)-1 {
				break
			}
			l.mu.Lock()
			more, l.ctrl = l.ctrl, more[:0]
			l.mu.Unlock()
			if len(more) > 0 {
				if _, err := l.lw.Write(more); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// writeFDs writes one frame with its descriptors, which it closes, as a
// write the stall detector watches.
func (l *Link) writeFDs(frame []byte, fds []int) error {
	l.lw.begin()
	defer l.lw.end()
	return writeFDs(l.uconn, frame, fds)
}

// pieceEnd returns the length of the first whole frames of b that add up to
// about writePiece bytes (at least one frame). b holds whole frames.
func pieceEnd(b []byte) int {
	n := 0
	for n < writePiece && n < len(b) {
		n += wire.Header(b[n:]).FrameLen()
	}
	return min(n, len(b))
}
