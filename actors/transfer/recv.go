package transfer

import (
	"fmt"
	"sync"
)

// onData buffers the data of a STREAM_DATA frame (end: it has END). A
// frame at another offset than the next, beyond the granted window, or
// after END resets the stream: what a peer can make this side hold is the
// window it was granted.
func (s *Stream) onData(d dataFrame, end bool) {
	s.mu.Lock()
	var bad string
	switch {
	case s.err != nil:
	case s.eof:
		bad = "data after the end of the stream"
	case d.offset != s.recvOff:
		bad = fmt.Sprintf("data at offset %d, expected %d", d.offset, s.recvOff)
	case s.recvOff+uint64(len(d.data)) > s.granted:
		bad = fmt.Sprintf("%d bytes at offset %d beyond the window (granted up to %d)", len(d.data), d.offset, s.granted)
	}
	if s.err != nil || bad != "" {
		s.mu.Unlock()
		if bad != "" {
			s.Reset(&StreamError{Code: CodeFlowControl, Msg: bad, Peer: s.key.peer})
		}
		return
	}
	s.recvOff += uint64(len(d.data))
	if !s.rclosed && len(d.data) > 0 {
		s.buffer(d.data)
	}
	finished := false
	if end {
		s.eof = true
		finished = s.endSent
	}
	s.mu.Unlock()
	signal(s.readable)
	if finished {
		s.finish()
	}
}

// buffer copies b to the end of the receive buffer, into the last chunk
// when it has room, so that many small frames cost no more than their
// bytes and one chunk. s.mu is held.
func (s *Stream) buffer(b []byte) {
	if n := len(s.chunks); n > 0 {
		last := s.chunks[n-1]
		if cap(last)-len(last) >= len(b) {
			s.chunks[n-1] = append(last, b...)
			s.buffered += len(b)
			return
		}
	}
	s.chunks = append(s.chunks, append(getChunk(len(b)), b...))
	s.buffered += len(b)
}

// onCredit adds credit; the first credit to a stream this side opened is
// its acceptance.
func (s *Stream) onCredit(add uint32) {
	s.mu.Lock()
	if s.key.mine && !s.acceptOK {
		s.acceptOK = true
		close(s.accepted)
	}
	next := s.credit + uint64(add)
	over := next-s.sendOff > MaxWindow
	if !over {
		s.credit = next
	}
	s.mu.Unlock()
	if over {
		s.Reset(&StreamError{Code: CodeFlowControl, Msg: fmt.Sprintf("credit beyond %d bytes", MaxWindow), Peer: s.key.peer})
		return
	}
	signal(s.writable)
}

// chunkSize is the capacity of pooled receive chunks.
const chunkSize = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// getChunk returns an empty buffer with room for at least n bytes.
func getChunk(n int) []byte {
	if n > chunkSize {
		return make([]byte, 0, n)
	}
	return (*chunkPool.Get().(*[]byte))[:0]
}

// putChunk gives a chunk from getChunk back.
func putChunk(b []byte) {
	if cap(b) == chunkSize {
		b = b[:0]
		chunkPool.Put(&b)
	}
}
