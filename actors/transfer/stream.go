package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spindle-go/spindle/wire"
)

// Stream is one stream between two contexts: a byte stream in each
// direction with its own credit window (a writer sends at most what the
// reader has room for). Read and Write may run at the same time, in
// different goroutines; two Writes (or two Reads) at once are serialised.
// CloseWrite ends this side's direction (the other side reads io.EOF);
// Close ends the stream; Reset aborts it both ways.
type Stream struct {
	t      *Transfer
	key    streamKey
	name   string
	wireID uint64 // the ID on this side's frames
	// via is the child link the opener is behind (viaChild), for
	// Config.MaxPerLink; set once by Transfer.add.
	via      uint32
	viaChild bool

	wmu     sync.Mutex // serialises Write and CloseWrite
	sendBuf []byte     // frame body under construction, under wmu
	rmu     sync.Mutex // serialises Read

	mu sync.Mutex
	// Receive direction: chunks read from frames, not yet read by Read.
	chunks   [][]byte
	head     int    // bytes of chunks[0] already read
	buffered int    // bytes in chunks
	recvOff  uint64 // offset the next data frame must have
	granted  uint64 // offset up to which the peer may send
	unacked  int    // bytes read since the last credit
	eof      bool   // the peer's END arrived
	rclosed  bool   // Close: later data is unwanted
	// Send direction.
	credit  uint64 // offset up to which this side may send
	sendOff uint64
	wclosed bool // CloseWrite
	endSent bool // END is on its way
	// End of the stream.
	err      error // why it ended early (reset, death, ctx)
	finished bool  // removed from the table
	cancel   context.CancelCauseFunc
	stopCtx  func() bool

	readable chan struct{} // cap 1: data, EOF or the end arrived
	writable chan struct{} // cap 1: credit or the end arrived
	accepted chan struct{} // closed by the first credit (opener side)
	acceptOK bool
	done     chan struct{} // closed when err is set
}

// newStream returns a stream that may send up to credit and receive up to
// granted bytes.
func (t *Transfer) newStream(key streamKey, name string, credit, granted uint64) *Stream {
	s := &Stream{t: t, key: key, name: name, wireID: key.id, credit: credit, granted: granted,
		readable: make(chan struct{}, 1), writable: make(chan struct{}, 1),
		accepted: make(chan struct{}), done: make(chan struct{})}
	if !key.mine {
		s.wireID |= fromAcceptor
	}
	return s
}

// Name returns the name the stream was opened with.
func (s *Stream) Name() string { return s.name }

// Peer returns the ID of the context at the other end.
func (s *Stream) Peer() uint32 { return s.key.peer }

// Done is closed when the stream was reset or its peer died; Err then says
// why.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns why the stream ended early, or nil.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Stream) terminal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// bindContext resets the stream when ctx is done.
func (s *Stream) bindContext(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		s.Reset(fmt.Errorf("%w: %w", errCanceledLocally, context.Cause(ctx)))
	})
	s.mu.Lock()
	s.stopCtx = stop
	s.mu.Unlock()
}

func (s *Stream) setCancel(c context.CancelCauseFunc) {
	s.mu.Lock()
	old, ended := s.cancel, s.err != nil
	s.cancel = c
	s.mu.Unlock()
	if c != nil && ended {
		c(context.Canceled)
	}
	if c == nil && old != nil {
		old(context.Canceled)
	}
}

// Read reads what the other side wrote. It returns io.EOF after the other
// side's CloseWrite and everything before it was read; after a reset or
// the other context's death, the error (data of an unfinished direction is
// dropped, a finished one is still read to its end).
func (s *Stream) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	for s.buffered == 0 {
		switch {
		case s.eof:
			s.mu.Unlock()
			return 0, io.EOF
		case s.err != nil:
			err := s.err
			s.mu.Unlock()
			return 0, err
		case s.rclosed:
			s.mu.Unlock()
			return 0, ErrClosed
		}
		s.mu.Unlock()
		select {
		case <-s.readable:
		case <-s.done:
		}
		s.mu.Lock()
	}
	n := s.take(p)
	add := 0
	if s.unacked += n; !s.eof && s.unacked >= s.t.cfg.Window/4 {
		add, s.unacked = s.unacked, 0
		s.granted += uint64(add)
	}
	s.mu.Unlock()
	if add > 0 {
		body := appendCredit(make([]byte, 0, creditSize), creditFrame{id: s.wireID, add: uint32(add)})
		if err := s.t.node.SendKindContext(context.Background(), wire.KindStreamCredit, s.key.peer, body); err != nil {
			s.teardown(err)
		}
	}
	return n, nil
}

// take copies buffered data into p. s.mu is held.
func (s *Stream) take(p []byte) int {
	n := 0
	for n < len(p) && len(s.chunks) > 0 {
		c := s.chunks[0][s.head:]
		k := copy(p[n:], c)
		n += k
		if s.head += k; s.head == len(s.chunks[0]) {
			putChunk(s.chunks[0])
			s.chunks[0] = nil
			s.chunks = s.chunks[1:]
			s.head = 0
		}
	}
	s.buffered -= n
	return n
}

// Write writes p to the other side, waiting for credit while the other
// side's window is full. It fails once the stream was reset, its peer
// died, or after CloseWrite (ErrClosed).
func (s *Stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		off, n, err := s.reserve(len(p))
		if err != nil {
			return written, err
		}
		s.sendBuf = appendDataHeader(s.sendBuf[:0], s.wireID, off)
		s.sendBuf = append(s.sendBuf, p[:n]...)
		// Written from this goroutine when the link is idle (no hand-off to
		// its writer: a command's line of output goes out at once), queued
		// behind the rest otherwise.
		if err := s.t.node.SendKindContext(context.Background(), wire.KindStreamData, s.key.peer, s.sendBuf); err != nil {
			s.teardown(err)
			return written, s.terminal()
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// reserve waits for credit and takes up to want bytes of it.
func (s *Stream) reserve(want int) (uint64, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.err != nil:
			return 0, 0, s.err
		case s.wclosed:
			return 0, 0, ErrClosed
		case s.credit > s.sendOff:
			n := min(uint64(want), s.credit-s.sendOff, uint64(s.t.cfg.FrameData))
			off := s.sendOff
			s.sendOff += n
			return off, int(n), nil
		}
		s.mu.Unlock()
		select {
		case <-s.writable:
		case <-s.done:
		}
		s.mu.Lock()
	}
}

// CloseWrite ends this side's direction: the other side reads io.EOF
// after what was written. Reading goes on. It is idempotent.
func (s *Stream) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.wclosed {
		s.mu.Unlock()
		return nil
	}
	if s.err != nil {
		// After a reset: an error, unless the other side had finished its
		// direction (it may reset as it closes, before our END arrived).
		err, eof := s.err, s.eof
		s.mu.Unlock()
		if eof && !errors.Is(err, errCanceledLocally) {
			return nil
		}
		return err
	}
	s.wclosed = true
	off := s.sendOff
	s.mu.Unlock()
	body := appendDataHeader(make([]byte, 0, dataHeader), s.wireID, off)
	if err := s.t.node.SendKindFlags(wire.KindStreamData, wire.FlagEnd, s.key.peer, body); err != nil {
		s.teardown(err)
		return s.terminal()
	}
	s.mu.Lock()
	s.endSent = true
	done := s.eof
	s.mu.Unlock()
	if done {
		s.finish()
	}
	return nil
}

// Close ends the stream: CloseWrite, and if the other side has not
// finished writing, a reset (CodeCancel) that tells it to stop. Buffered
// data is dropped. It is idempotent; it returns CloseWrite's error (the
// stream's error when it ended before the other side finished).
func (s *Stream) Close() error {
	err := s.CloseWrite()
	s.mu.Lock()
	s.rclosed = true
	eof, ended := s.eof, s.err != nil
	s.dropChunks()
	s.mu.Unlock()
	if !eof && !ended {
		s.Reset(nil)
	}
	return err
}

// Reset aborts the stream both ways: the other side's Read and Write fail
// with a *StreamError of the code err maps to (CodeCancel for nil, or for
// a context error), here with err. It is idempotent.
func (s *Stream) Reset(err error) {
	if err == nil {
		err = errCanceledLocally
	}
	code := codeOf(err)
	msg := ""
	if code != CodeCancel {
		msg = err.Error()
	}
	if s.teardown(err) {
		s.t.sendReset(s.key.peer, s.wireID, code, msg)
	}
}

// teardown ends the stream with err (first cause wins) and reports
// whether this call ended it.
func (s *Stream) teardown(err error) bool {
	s.mu.Lock()
	if s.err != nil || s.finished {
		s.mu.Unlock()
		return false
	}
	s.err = err
	if !s.eof {
		s.dropChunks()
	}
	cancel := s.cancel
	s.mu.Unlock()
	close(s.done)
	if cancel != nil {
		cancel(err)
	}
	s.finish()
	return true
}

// finish removes the stream from the table once it ended: both
// directions closed, or torn down.
func (s *Stream) finish() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.finished = true
	stop := s.stopCtx
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	s.t.remove(s)
}

// dropChunks frees the receive buffers. s.mu is held.
func (s *Stream) dropChunks() {
	for i, c := range s.chunks {
		putChunk(c)
		s.chunks[i] = nil
	}
	s.chunks, s.head, s.buffered = nil, 0, 0
}
