package actors

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/wire"
)

// defaultMaxQueue bounds the bytes waiting in one link's bulk queue. A sender
// that finds the queue fuller than this blocks until the writer drains it
// (backpressure); a single frame larger than the limit is accepted into an
// empty queue.
const defaultMaxQueue = 32 << 20

// errLinkClosed is the reason of a link closed by its own side.
var errLinkClosed = errors.New("link closed")

// A link is one framed byte stream to a neighbouring context. It owns one
// reader goroutine, which hands every frame to the node, and one writer
// goroutine, which writes whatever has been queued since its last write in a
// single batch. Control frames (heartbeats) are written before bulk frames.
// A link is safe for concurrent use.
type link struct {
	node     *Node
	peer     uint32 // context ID on the other side
	peerName string
	isParent bool // the other side is this context's parent
	peerMax  int  // largest frame the peer accepts

	r      *wire.Reader
	live   *liveReader // under r: tells the heartbeat how long the reader waits
	fdr    *fdReader   // under live, on a unix socket: the descriptors received
	uconn  *net.UnixConn
	fdOK   bool // both sides can pass descriptors on this link
	hb     heartbeat
	w      io.Writer
	closer io.Closer
	// reason, when set, turns the read error that ended the link into the
	// reason reported to watchers (spawn uses it to report the exit status).
	reason func(error) error

	mu       sync.Mutex
	wake     *sync.Cond // writer waits for frames; senders wait for room
	ctrl     []byte
	bulk     []byte
	fdq      []fdFrame // frames in bulk that carry descriptors, in order
	maxQueue int
	writing  bool  // a write is in progress (writer goroutine or inline)
	lastSend int64 // nanoseconds since epoch of the last send, for the idle test
	epoch    time.Time
	closed   bool
	cause    error         // why the link was closed from this side, if it was
	quit     chan struct{} // closed with closed, for the heartbeat goroutine

	// Owned by the reader goroutine: PIDs of local targets and of senders
	// (for one sender context at a time), reused across messages.
	targets       map[string]*actor.PID
	senders       map[string]*actor.PID
	lastSenderCtx uint32
	chunks        *wire.Assembler // chunked frames addressed to this context
	inFDs         []int           // descriptors of the frame being handled, until a handler takes them

	done chan struct{} // closed when the reader has reported the link down
	err  error         // final reason, valid after done
	wg   sync.WaitGroup
}

// fdFrame is a frame queued with its descriptors, at offset off of the
// bulk queue.
type fdFrame struct {
	off int
	fds []int
}

// linkInput is the read side of a new link: the frame reader, the
// liveReader under it and, on a unix socket, the fdReader under that.
type linkInput struct {
	r    *wire.Reader
	live *liveReader
	fdr  *fdReader
}

// linkReader returns the read side of a new link over t.
func linkReader(t Transport, maxFrame int) linkInput {
	var in linkInput
	var src io.Reader = t.R
	if uc := unixConnOf(t); uc != nil {
		in.fdr = newFDReader(uc)
		src = in.fdr
	}
	in.live = newLiveReader(src)
	in.r = wire.NewReader(in.live, maxFrame)
	return in
}

// features returns the Hello features this side offers on the link.
func (in linkInput) features() uint32 {
	if in.fdr != nil {
		return wire.FeatureFDPassing
	}
	return 0
}

// abandon closes the descriptors received during a handshake that failed.
func (in linkInput) abandon() {
	if in.fdr != nil {
		in.fdr.discard()
	}
}

func newLink(n *Node, t Transport, in linkInput, peer wire.Hello, hb heartbeat) *link {
	live := in.live
	l := &link{
		node:     n,
		r:        in.r,
		live:     live,
		fdr:      in.fdr,
		fdOK:     in.fdr != nil && peer.Features&wire.FeatureFDPassing != 0,
		hb:       hb,
		w:        t.W,
		closer:   t.C,
		maxQueue: defaultMaxQueue,
		epoch:    live.epoch,
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		reason:   t.Reason,
		chunks:   wire.NewAssembler(n.cfg.MaxFrame),
	}
	if l.fdOK {
		l.uconn = in.fdr.c
	}
	l.wake = sync.NewCond(&l.mu)
	return l
}

// maxFrame returns the largest frame the peer accepts.
func (l *link) maxFrame() int {
	if l.peerMax <= 0 {
		return wire.DefaultMaxFrame
	}
	return l.peerMax
}

// start launches the reader and writer goroutines.
func (l *link) start() {
	l.wg.Add(2)
	go l.readLoop()
	go l.writeLoop()
	if l.hb.on() {
		l.wg.Add(1)
		go l.heartLoop()
	}
}

// lastSent returns when a frame was last handed to send, in nanoseconds
// since the link's epoch.
func (l *link) lastSent() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSend
}

// inlineIdle is how long a link must have been quiet for a sender to write
// its frame itself instead of handing it to the writer goroutine. A quiet
// link is in request/response mode, where the hand-off costs latency; a
// busy one is in streaming mode, where the writer batches frames into few
// writes.
const inlineIdle = 20 * time.Microsecond

// sendMode says how send may treat its caller.
type sendMode uint8

const (
	// queued only appends to the queue. Every send made on a link's reader
	// goroutine must be queued: a reader that writes can deadlock with a
	// peer whose reader is writing too.
	queued sendMode = iota
	// inline may write the frame from the caller's goroutine when the link
	// is idle (user and actor sends).
	inline
	// control jumps ahead of queued bulk frames (heartbeats).
	control
)

// send queues one encoded frame, or writes it at once when the link is idle
// and mode allows it. A frame longer than wire.DefaultChunkSize is queued as
// CHUNK frames, so control frames can pass it. send does not keep frame, so
// the caller may reuse it. It blocks while the bulk queue is over its limit
// (backpressure), and returns errLinkClosed (or the link's cause) once the
// link is closed.
func (l *link) send(frame []byte, mode sendMode) error {
	return l.sendFDs(frame, nil, mode)
}

// fdRefused reports whether a sendFDs error refuses the frame's
// descriptors (the link cannot carry them, or the frame is too big to)
// rather than reporting a broken link.
func fdRefused(err error) bool {
	return errors.Is(err, ErrNoFDPassing) || errors.Is(err, wire.ErrFrameTooLarge)
}

// sendFDs is send for a frame that carries descriptors (fds may be nil).
// The descriptors are this side's duplicates: sendFDs owns them and closes
// them once they are sent or cannot be. A link that cannot carry them
// fails with ErrNoFDPassing; a frame that carries them is never chunked.
func (l *link) sendFDs(frame []byte, fds []int, mode sendMode) error {
	if len(fds) > 0 {
		if !l.fdOK {
			closeFDs(fds)
			return ErrNoFDPassing
		}
		if len(frame) > maxFDFrame {
			closeFDs(fds)
			return fmt.Errorf("%w: a message with descriptors may be %d bytes at most, this one is %d",
				wire.ErrFrameTooLarge, maxFDFrame, len(frame))
		}
	}
	size := len(frame)
	// Chunks in transit are forwarded as they are.
	chunked := size > wire.DefaultChunkSize+wire.HeaderSize && wire.Header(frame).Kind() != wire.KindChunk
	if chunked {
		size = wire.ChunkedLen(size, wire.DefaultChunkSize)
		if mode == inline {
			mode = queued
		}
	}
	l.mu.Lock()
	for mode != control && !l.closed && len(l.bulk) > 0 && len(l.bulk)+size > l.maxQueue {
		l.wake.Wait()
	}
	if l.closed {
		err := l.cause
		l.mu.Unlock()
		closeFDs(fds)
		if err == nil {
			err = errLinkClosed
		}
		return err
	}
	now := int64(time.Since(l.epoch))
	idle := now-l.lastSend > int64(inlineIdle)
	l.lastSend = now
	empty := len(l.ctrl) == 0 && len(l.bulk) == 0
	if mode == inline && idle && empty && !l.writing {
		return l.writeInline(frame, fds)
	}
	switch {
	case len(fds) > 0:
		l.fdq = append(l.fdq, fdFrame{off: len(l.bulk), fds: fds})
		l.bulk = append(l.bulk, frame...)
	case mode == control:
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
func (l *link) writeInline(frame []byte, fds []int) error {
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
		l.shutdown(err)
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

func (l *link) writeLoop() {
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
			l.shutdown(err)
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
func (l *link) writeBatch(ctrl, bulk []byte, fdq []fdFrame) (err error) {
	defer func() {
		for _, q := range fdq { // not sent: the link failed
			closeFDs(q.fds)
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

func (l *link) readLoop() {
	defer l.wg.Done()
	var err error
	for {
		var f wire.Frame
		start := l.r.Offset()
		f, err = l.r.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isClosedErr(err) &&
				!errors.Is(err, syscall.ECONNRESET) { // a peer that died with our frames unread
				err = &ProtocolError{Err: err}
			}
			break
		}
		if err = l.claimFDs(f, start); err != nil {
			err = &ProtocolError{Err: err}
			break
		}
		err = l.node.handleFrame(l, f)
		if l.inFDs != nil { // no handler took them: the frame was dropped
			closeFDs(l.inFDs)
			l.inFDs = nil
		}
		if err != nil {
			break
		}
	}
	if l.fdr != nil {
		l.fdr.discard()
	}
	l.shutdown(err)
	l.mu.Lock()
	reason := l.cause // the first cause: a write error, a local close, or err
	l.mu.Unlock()
	if l.reason != nil {
		reason = l.reason(reason)
	}
	l.err = reason
	l.node.linkDown(l, reason)
	close(l.done)
}

// shutdown closes the link from this side with the given cause. The first
// cause wins. It is safe to call more than once and from any goroutine.
func (l *link) shutdown(cause error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.cause = cause
	l.ctrl, l.bulk = nil, nil
	for _, q := range l.fdq {
		closeFDs(q.fds)
	}
	l.fdq = nil
	close(l.quit)
	l.mu.Unlock()
	l.wake.Broadcast()
	_ = l.closer.Close()
}

// close shuts the link down and waits for both goroutines.
func (l *link) close() {
	l.shutdown(errLinkClosed)
	l.wg.Wait()
}

// claimFDs sets l.inFDs to the descriptors that came with frame f, which
// starts at stream offset start. On a link that cannot carry descriptors a
// frame that claims some is an error.
func (l *link) claimFDs(f wire.Frame, start int64) error {
	if l.fdr == nil {
		n, err := wire.FrameFDs(f)
		if err == nil && n > 0 {
			err = fmt.Errorf("frame claims %d descriptors on a link that cannot carry them", n)
		}
		return err
	}
	fds, err := l.fdr.claim(f, start)
	l.inFDs = fds
	return err
}

// takeFDs hands the descriptors of the frame being handled to the caller.
func (l *link) takeFDs() []int {
	fds := l.inFDs
	l.inFDs = nil
	return fds
}

func isClosedErr(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
