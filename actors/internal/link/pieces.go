package link

import (
	"context"

	"github.com/spindle-go/spindle/wire"
)

// Sending a frame in pieces. A large []byte an encoder left as a gap
// (wire.Gaps) is written from the caller's slice: the inline write is one
// writev of the chunk headers, the slices of the frame's buffer and the
// gaps, and only what must wait for the writer goroutine is copied into
// the queue. A chunked frame's first chunk goes in a write of its own, so
// that the peer's reader, woken by it, reads while the rest is written
// (the kernel wakes a pipe's reader when a write ends, or when the pipe is
// full) while the rest is being written. A pipe's reader and writer copy
// under one mutex, so the copies still take turns; what this saves is the
// wait for the whole megabyte before the reader starts (fewer context
// switches per round trip, docs/benchmarks.md 2026-12-03). The bytes past
// a 1 MiB pipe's capacity still go to the writer goroutine (about 3 writes
// per 1 MiB round trip either way).

// SendPieces is SendContext for a frame in pieces, without descriptors.
// Like SendContext it is done with p's slices, gaps included, when it
// returns.
func (l *Link) SendPieces(ctx context.Context, p wire.Pieces, mode Mode) error {
	return l.send(ctx, p, nil, mode)
}

// Gathers reports whether the link writes a frame in pieces as they are
// (it has a non-blocking descriptor for writev); otherwise SendPieces
// copies them into one buffer first, and an encoder gains nothing by
// leaving gaps.
func (l *Link) Gathers() bool { return l.raw != nil }

// writePiecesInline writes frame p from the sender's goroutine, as chunks
// when chunked, without waiting for the peer: what the kernel does not
// take at once is queued as writeInline does (the rest of the chunk the
// write stopped in as l.partial, written first; the chunks after it ahead
// of whatever was queued meanwhile, so the chunks of one frame stay
// contiguous and control frames still pass between them). size is the
// bytes it writes. l.mu is held on entry and released.
func (l *Link) writePiecesInline(p wire.Pieces, chunked bool, size int) error {
	l.writing = true
	l.mu.Unlock()
	iov, ends := piecesVec(p, chunked)
	first := 0 // the pieces of the first chunk
	for first < len(iov) && vecLen(iov[:first]) < ends[0] {
		first++
	}
	n, err := l.tryWritev(iov[:first])
	if err == nil && n == ends[0] && first < len(iov) {
		var m int
		m, err = l.tryWritev(iov[first:])
		n += m
	}
	l.mu.Lock()
	l.writing = false
	if err == nil && n < size && !l.closed {
		l.queueRestLocked(iov, ends, n)
	}
	pending := len(l.ctrl) > 0 || l.bulk.Len() > 0 || len(l.partial) > 0
	l.mu.Unlock()
	if err != nil {
		l.Shutdown(err)
		l.mu.Lock()
		err = l.cause
		l.mu.Unlock()
		return err
	}
	if pending {
		l.wake.Broadcast()
	}
	return nil
}

// piecesVec returns the pieces to write for frame p, chunk headers
// included when chunked, and the offset in them where each chunk ends (one
// "chunk", the frame, when not chunked).
func piecesVec(p wire.Pieces, chunked bool) (iov [][]byte, ends []int) {
	if !chunked {
		n := p.Len()
		return p.Vec(nil, 0, n), []int{n}
	}
	n, c := p.Len(), wire.DefaultChunkSize
	hdrs := wire.AppendChunkHeadersOf(make([]byte, 0, wire.ChunkedLen(n, c)-n), p, c)
	iov = make([][]byte, 0, 3*len(hdrs)/wire.HeaderSize)
	out := 0
	for i := 0; i*wire.HeaderSize < len(hdrs); i++ {
		iov = append(iov, hdrs[i*wire.HeaderSize:(i+1)*wire.HeaderSize])
		end := min((i+1)*c, n)
		iov = p.Vec(iov, i*c, end)
		out += wire.HeaderSize + end - i*c
		ends = append(ends, out)
	}
	return iov, ends
}

// vecLen returns the bytes in iov.
func vecLen(iov [][]byte) int {
	n := 0
	for _, b := range iov {
		n += len(b)
	}
	return n
}

// queueRestLocked queues what is left of iov, whose chunks end at ends,
// after its first n bytes were written: the rest of the chunk the write
// stopped in as l.partial, the following chunks in front of l.bulk. l.mu
// is held.
func (l *Link) queueRestLocked(iov [][]byte, ends []int, n int) {
	c := 0
	for c < len(ends) && ends[c] <= n {
		c++
	}
	if c == len(ends) {
		return
	}
	l.partial = appendVecRange(l.partial[:0], iov, n, ends[c])
	total := ends[len(ends)-1]
	if ends[c] == total {
		return
	}
	rest := appendVecRange(make([]byte, 0, total-ends[c]), iov, ends[c], total)
	l.bigSend = max(l.bigSend, len(rest))
	for j := range l.fdq {
		l.fdq[j].off += len(rest)
	}
	l.bulk.prepend(rest)
	l.noteQueue()
}

// appendVecRange appends bytes [from, to) of the concatenation of iov.
func appendVecRange(dst []byte, iov [][]byte, from, to int) []byte {
	pos := 0
	for _, b := range iov {
		lo, hi := max(from-pos, 0), min(to-pos, len(b))
		if lo < hi {
			dst = append(dst, b[lo:hi]...)
		}
		pos += len(b)
		if pos >= to {
			break
		}
	}
	return dst
}
