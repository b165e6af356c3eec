package link

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// DefaultMaxQueue bounds the bytes waiting in one link's bulk queue. A sender
// that finds the queue fuller than this blocks until the writer drains it
// (backpressure); a single frame larger than the limit is accepted into an
// empty queue.
const DefaultMaxQueue = 32 << 20

// Handler is the node side of a link. Both methods run on the link's reader
// goroutine.
type Handler interface {
	// HandleFrame handles one frame read from l (never PING or PONG, which
	// the link answers itself). A non-nil error closes the link with that
	// reason. It must not Send Inline.
	HandleFrame(l *Link, f wire.Frame) error
	// LinkDown is called once, when the link is gone, with the reason
	// (after Config.Reason). Done is closed after it returns.
	LinkDown(l *Link, reason error)
}

// Transport is the byte stream under a link. C must close both directions
// and unblock R and W.
type Transport struct {
	R io.Reader
	W io.Writer
	C io.Closer
}

// Config describes a link's two ends. The zero value of each optional field
// is its documented default.
type Config struct {
	Local uint32 // this side's context ID, the source of heartbeat frames
	Peer  uint32 // the context ID on the other side
	// Name is the peer's name, for logs and HeartbeatError.Peer.
	Name string
	// PeerMaxFrame is the largest frame the peer accepts (from its hello).
	// Default wire.DefaultMaxFrame.
	PeerMaxFrame int
	// PeerFeatures are the features of the peer's hello: descriptors pass
	// only when both sides offer wire.FeatureFDPassing.
	PeerFeatures uint32
	// Heartbeat is the link's heartbeat; the zero value turns it off.
	Heartbeat Heartbeat
	// MaxQueue bounds the bulk queue's bytes. Default DefaultMaxQueue.
	MaxQueue int
	// Logger receives the link's warnings. Default: discarded.
	Logger *slog.Logger
	// Reason, when set, turns the error that ended the link into the
	// reason reported to LinkDown and Err (spawn uses it to report the exit
	// status).
	Reason func(error) error
	// BatonIdle is how often the idle timer looks at an idle read baton
	// (baton.go). Default IdleFor; tests that need the baton to stay idle
	// between two requests set it long.
	BatonIdle time.Duration
}

// A Link is one framed byte stream to a neighbouring context. It owns one
// reader goroutine, which hands every frame to the Handler, and one writer
// goroutine, which writes whatever has been queued since its last write in a
// single batch. Control frames are written before bulk frames. A Link is
// safe for concurrent use.
type Link struct {
	h       Handler
	peer    uint32
	local   uint32
	name    string
	peerMax int
	log     *slog.Logger

	r      *wire.Reader
	live   *liveReader // under r: tells the heartbeat how long the reader waits
	fdr    *fdReader   // under live, on a unix socket: the descriptors received
	uconn  *net.UnixConn
	fdOK   bool // both sides can pass descriptors on this link
	hb     Heartbeat
	lw     *liveWriter     // the transport's writer: tells the heartbeat whether writes progress
	raw    syscall.RawConn // the writer's non-blocking descriptor, for inline writes; nil when none
	tryFn  func(uintptr) bool
	tryvFn func(uintptr) bool
	try    tryState // the inline write in progress, owned by the goroutine that set writing
	closer io.Closer
	reason func(error) error

	mu   sync.Mutex
	wake *sync.Cond // writer waits for frames; senders wait for room
	ctrl []byte
	bulk blockQueue
	fdq  []fdFrame // frames in bulk that carry descriptors, in order
	// partial is the rest of a frame an inline write began, written before
	// anything else; partialFDs are its descriptors when none of it was.
	partial    []byte
	partialFDs []int
	maxQueue   int
	writing    bool   // a write is in progress (writer goroutine or inline)
	lastSend   int64  // nanoseconds since epoch of the last send, for the idle test
	rxSeen     uint64 // l.rx at the last send, for the request/response test
	bigSend    int    // the largest frame queued since the queues last released
	release    releaseState
	congested  bool // a Bounded send found no room in BoundedWait (see Bounded)
	epoch      time.Time
	closed     bool
	cause      error         // why the link was closed from this side, if it was
	quit       chan struct{} // closed with closed, for the heartbeat goroutine

	// Owned by the reader goroutine.
	inFDs []int // descriptors of the frame being handled, until a handler takes them
	runState
	rx atomic.Uint64 // frames read, for the request/response test of Send

	stats counters    // see Stats
	out   outCounters // see Stats; guarded by mu

	baton batonState // who reads the link (baton.go)

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

// Input is the read side of a new link, made before the handshake so that
// the hello is read through it: the frame reader, the liveReader under it
// and, on a unix socket, the fdReader under that. It is owned by the
// handshake and then by the Link made from it.
type Input struct {
	r    *wire.Reader
	live *liveReader
	fdr  *fdReader
	dl   deadliner // the transport's read deadline, for the baton; nil when none
}

// NewInput returns the read side of a new link over t, accepting frames of
// up to maxFrame bytes.
func NewInput(t Transport, maxFrame int) *Input {
	in := &Input{}
	var src io.Reader = t.R
	if uc := unixConnOf(t); uc != nil {
		in.fdr = newFDReader(uc)
		src = in.fdr
	}
	if d, ok := t.R.(deadliner); ok {
		in.dl = d
	}
	in.live = newLiveReader(src)
	in.r = wire.NewReader(in.live, maxFrame)
	return in
}

// Reader returns the frame reader, for the handshake.
func (in *Input) Reader() *wire.Reader { return in.r }

// Features returns the Hello features this side offers on the link.
func (in *Input) Features() uint32 {
	if in.fdr != nil {
		return wire.FeatureFDPassing
	}
	return 0
}

// Abandon closes the descriptors received during a handshake that failed.
func (in *Input) Abandon() {
	if in.fdr != nil {
		in.fdr.discard()
	}
}

// New returns a link over t, reading through in, that reports to h. It
// starts nothing: call Start.
func New(t Transport, in *Input, cfg Config, h Handler) *Link {
	l := &Link{
		h:        h,
		peer:     cfg.Peer,
		local:    cfg.Local,
		name:     cfg.Name,
		peerMax:  cfg.PeerMaxFrame,
		log:      cfg.Logger,
		r:        in.r,
		live:     in.live,
		fdr:      in.fdr,
		fdOK:     in.fdr != nil && cfg.PeerFeatures&wire.FeatureFDPassing != 0,
		hb:       cfg.Heartbeat,
		lw:       &liveWriter{w: t.W, epoch: in.live.epoch},
		raw:      rawConnOf(t.W),
		closer:   t.C,
		maxQueue: cfg.MaxQueue,
		epoch:    in.live.epoch,
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		reason:   cfg.Reason,
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.maxQueue <= 0 {
		l.maxQueue = DefaultMaxQueue
	}
	if l.fdOK {
		l.uconn = in.fdr.c
	}
	l.tryFn = l.tryOnce
	l.tryvFn = l.tryvOnce
	l.wake = sync.NewCond(&l.mu)
	l.baton.init(in.dl, cfg.BatonIdle)
	return l
}

// Peer returns the context ID on the other side.
func (l *Link) Peer() uint32 { return l.peer }

// Name returns the peer's name.
func (l *Link) Name() string { return l.name }

// FDPassing reports whether both sides can pass descriptors on this link.
func (l *Link) FDPassing() bool { return l.fdOK }

// MaxFrame returns the largest frame the peer accepts.
func (l *Link) MaxFrame() int {
	if l.peerMax <= 0 {
		return wire.DefaultMaxFrame
	}
	return l.peerMax
}

// Start launches the reader and writer goroutines (and the heartbeat's).
func (l *Link) Start() {
	l.wg.Add(2)
	go l.readLoop() // calls l.wg.Done itself (see readLoop)
	go l.writeLoop()
	if l.hb.On() {
		l.wg.Add(1)
		go l.heartLoop()
	}
}

// Done is closed when the link is gone and LinkDown has returned.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err returns why the link ended; valid after Done is closed, nil before.
func (l *Link) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// lastSent returns when a frame was last handed to send, in nanoseconds
// since the link's epoch.
func (l *Link) lastSent() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSend
}

// Shutdown closes the link from this side with the given cause. The first
// cause wins. It does not wait; it is safe to call more than once and from
// any goroutine.
func (l *Link) Shutdown(cause error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.cause = cause
	l.ctrl = nil
	l.bulk.reset()
	for _, q := range l.fdq {
		CloseFDs(q.fds)
	}
	l.fdq = nil
	CloseFDs(l.partialFDs)
	l.partial, l.partialFDs = nil, nil
	if l.release.timer != nil {
		l.release.timer.Stop() // a tick already running sees closed
	}
	close(l.quit)
	l.mu.Unlock()
	l.wake.Broadcast()
	_ = l.closer.Close()
}

// Close shuts the link down with ErrClosed and waits for its goroutines.
func (l *Link) Close() {
	l.Shutdown(ErrClosed)
	l.wg.Wait()
}

// Wait waits for the goroutines Start launched (after Shutdown, or after
// the peer closed the link). Done is closed by then.
func (l *Link) Wait() { l.wg.Wait() }

// readLoop is the reader goroutine. The watchdog of RunAfter may hand the
// rest of the link to a new readLoop while this one runs a long or blocked
// run: this one then returns at once, and the new one owns the read side
// and the count of l.wg.
func (l *Link) readLoop() {
	err, still := l.readFrames()
	if !still {
		return
	}
	if l.fdr != nil {
		l.fdr.discard()
	}
	l.Shutdown(err)
	l.mu.Lock()
	reason := l.cause // the first cause: a write error, a local close, or err
	l.mu.Unlock()
	if l.reason != nil {
		reason = l.reason(reason)
	}
	l.err = reason
	l.h.LinkDown(l, reason)
	close(l.done)
	l.wg.Done()
}

// readFrames reads and handles frames until an error, which it returns;
// still is false when the watchdog gave the link to a new reader goroutine.
func (l *Link) readFrames() (err error, still bool) {
	for {
		var f wire.Frame
		start := l.r.Offset()
		f, err = l.r.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isClosedErr(err) &&
				!errors.Is(err, syscall.ECONNRESET) { // a peer that died with our frames unread
				err = &ProtocolError{Err: err}
			}
			l.handOffRun() // a run RunWhenDry held for frames that did not come
			return err, true
		}
		if err = l.frame(f, start); err != nil {
			l.handOffRun()
			return err, true
		}
		if !l.runAfter() {
			return nil, false
		}
		if l.yieldIfAsked() {
			// The baton is out (baton.go): a requester reads the link
			// until it gives it back, with what it could not handle.
			if err = l.awaitBaton(); err != nil {
				return err, true
			}
		}
	}
}

// frame does the reader's work for frame f, which starts at stream offset
// start, on whichever goroutine holds the read side (the reader, or a
// requester holding the baton): counts, descriptors, then the handler. An
// error closes the link.
func (l *Link) frame(f wire.Frame, start int64) error {
	l.rx.Add(1)
	l.countIn(f)
	if err := l.claimFDs(f, start); err != nil {
		return &ProtocolError{Err: err}
	}
	err := l.handle(f)
	if l.inFDs != nil { // no handler took them: the frame was dropped
		CloseFDs(l.inFDs)
		l.inFDs = nil
	}
	return err
}

// handle answers the link-local heartbeat frames and hands the others to
// the handler.
func (l *Link) handle(f wire.Frame) error {
	switch f.Header().Kind() {
	case wire.KindPing:
		l.Ping(wire.KindPong) // any bytes prove liveness, PONG answers at once
		return nil
	case wire.KindPong:
		return nil
	}
	return l.h.HandleFrame(l, f)
}

// claimFDs sets l.inFDs to the descriptors that came with frame f, which
// starts at stream offset start. On a link that cannot carry descriptors a
// frame that claims some is an error.
func (l *Link) claimFDs(f wire.Frame, start int64) error {
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

// TakeFDs hands the descriptors of the frame being handled to the caller,
// who must close them. Only HandleFrame may call it.
func (l *Link) TakeFDs() []int {
	fds := l.inFDs
	l.inFDs = nil
	return fds
}

func isClosedErr(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
