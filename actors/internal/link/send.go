package link

import (
	"fmt"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// inlineIdle is how long a link must have been quiet for a sender to write
// its frame itself instead of handing it to the writer goroutine. A quiet
// link is in request/response mode, where the hand-off costs latency; a
// busy one is in streaming mode, where the writer batches frames into few
// writes.
const inlineIdle = 20 * time.Microsecond

// Mode says how Send may treat its caller.
type Mode uint8

const (
	// Queued only appends to the queue. Every send made on a link's reader
	// goroutine must be Queued (or Control): a reader that writes can
	// deadlock with a peer whose reader is writing too.
	Queued Mode = iota
	// Inline may write the frame from the caller's goroutine when the link
	// is idle (user and actor sends).
	Inline
	// Control jumps ahead of queued bulk frames and never waits for room
	// (heartbeats).
	Control
)

// Send queues one encoded frame, or writes it at once when the link is idle
// and mode allows it. A frame longer than wire.DefaultChunkSize is queued as
// CHUNK frames, so control frames can pass it. Send does not keep frame, so
// the caller may reuse it. It blocks while the bulk queue is over its limit
// (backpressure), and returns ErrClosed (or the link's cause) once the
// link is closed.
func (l *Link) Send(frame []byte, mode Mode) error {
	return l.SendFDs(frame, nil, mode)
}

// SendFDs is Send for a frame that carries descriptors (fds may be nil).
// The descriptors are this side's duplicates: SendFDs owns them and closes
// them once they are sent or cannot be. A link that cannot carry them
// fails with ErrNoFDPassing; a frame that carries them is never chunked.
func (l *Link) SendFDs(frame []byte, fds []int, mode Mode) error {
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
	size := len(frame)
	// Chunks in transit are forwarded as they are.
	chunked := size > wire.DefaultChunkSize+wire.HeaderSize && wire.Header(frame).Kind() != wire.KindChunk
	if chunked {
		size = wire.ChunkedLen(size, wire.DefaultChunkSize)
		if mode == Inline {
			mode = Queued
		}
	}
	l.mu.Lock()
	for mode != Control && !l.closed && len(l.bulk) > 0 && len(l.bulk)+size > l.maxQueue {
		l.wake.Wait()
	}
	if l.closed {
		err := l.cause
		l.mu.Unlock()
		CloseFDs(fds)
		if err == nil {
			err = ErrClosed
		}
		return err
	}
	now := int64(time.Since(l.epoch))
	idle := now-l.lastSend > int64(inlineIdle)
	l.lastSend = now
	empty := len(l.ctrl) == 0 && len(l.bulk) == 0
	if mode == Inline && idle && empty && !l.writing {
		return l.writeInline(frame, fds)
	}
	switch {
	case len(fds) > 0:
		l.fdq = append(l.fdq, fdFrame{off: len(l.bulk), fds: fds})
		l.bulk = append(l.bulk, frame...)
	case mode == Control:
		l.ctrl = append(l.ctrl, frame...)
	case chunked:
		l.bulk = wire.AppendChunks(l.bulk, frame, wire.DefaultChunkSize)
	default:
		l.bulk = append(l.bulk, frame...)
	}
	l.mu.Unlock()
	if empty {
		l.wake.Broadcast()
	}
	return nil
}

// writeInline writes frame from the sender's goroutine. l.mu is held on
// entry and released on return. Frames queued meanwhile are left to the
// writer goroutine, which waits while a write is in progress.
func (l *Link) writeInline(frame []byte, fds []int) error {
	l.writing = true
	l.mu.Unlock()
	var err error
	if len(fds) > 0 {
		err = writeFDs(l.uconn, frame, fds)
	} else {
		_, err = l.w.Write(frame)
	}
	l.mu.Lock()
	l.writing = false
	pending := len(l.ctrl) > 0 || len(l.bulk) > 0
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

func (l *Link) writeLoop() {
	defer l.wg.Done()
	var ctrl, bulk []byte // spare buffers, swapped with the queues
	var fdq []fdFrame
	for {
		l.mu.Lock()
		for !l.closed && (l.writing || (len(l.ctrl) == 0 && len(l.bulk) == 0)) {
			l.wake.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		ctrl, l.ctrl = l.ctrl, ctrl[:0]
		bulk, l.bulk = l.bulk, bulk[:0]
		fdq, l.fdq = l.fdq, fdq[:0]
		l.writing = true
		l.mu.Unlock()
		l.wake.Broadcast() // room for blocked senders

		err := l.writeBatch(ctrl, bulk, fdq)
		clear(fdq)
		l.mu.Lock()
		l.writing = false
		l.mu.Unlock()
		if err != nil {
			l.Shutdown(err)
			return
		}
		// Do not let one huge batch pin its memory.
		if cap(bulk) > 4*l.maxQueue {
			bulk = nil
		}
	}
}

// writePiece is the most bulk data the writer writes between two looks at
// the control queue.
const writePiece = 256 << 10

// writeBatch writes the control frames, then the bulk frames in pieces of
// about writePiece bytes cut at frame boundaries, writing whatever control
// frames were queued meanwhile between two pieces.
func (l *Link) writeBatch(ctrl, bulk []byte, fdq []fdFrame) (err error) {
	defer func() {
		for _, q := range fdq { // not sent: the link failed
			CloseFDs(q.fds)
		}
	}()
	if len(ctrl) > 0 {
		if _, err := l.w.Write(ctrl); err != nil {
			return err
		}
	}
	var more []byte
	pos := 0 // offset of bulk in the batch, to meet the fdq offsets
	for len(bulk) > 0 {
		if len(fdq) > 0 && fdq[0].off == pos {
			// A frame with descriptors goes alone in one sendmsg.
			n := wire.Header(bulk).FrameLen()
			fds := fdq[0].fds
			fdq = fdq[1:]
			if err := writeFDs(l.uconn, bulk[:n], fds); err != nil {
				return err
			}
			bulk, pos = bulk[n:], pos+n
		} else {
			plain := bulk
			if len(fdq) > 0 {
				plain = bulk[:fdq[0].off-pos]
			}
			n := len(plain)
			if n > writePiece {
				n = pieceEnd(plain)
			}
			if _, err := l.w.Write(bulk[:n]); err != nil {
				return err
			}
			bulk, pos = bulk[n:], pos+n
		}
		if len(bulk) == 0 {
			break
		}
		l.mu.Lock()
		more, l.ctrl = l.ctrl, more[:0]
		l.mu.Unlock()
		if len(more) > 0 {
			if _, err := l.w.Write(more); err != nil {
				return err
			}
		}
	}
	return nil
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
