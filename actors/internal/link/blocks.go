package link

import "github.com/spindle-go/spindle/wire"

// blockQueue is a link's bulk queue: frames in blocks of memory that are
// used again once written. A queue that grew by appending to one buffer
// copied everything it held at each doubling and touched fresh pages of
// memory as it grew, a fifth of a streaming sender's CPU when its peer is
// the slower side (docs/benchmarks.md, "Hot path, one-way throughput (issue
// 14), 2026-12-03"); blocks never move what they hold, and the writer hands
// the blocks it has written back to the queue. Each block holds whole
// frames, so the writer writes a block at a time (at most writePiece bytes,
// or one big frame's chunks) and looks at the control queue between two.
// l.mu guards it.
type blockQueue struct {
	blocks [][]byte // queued frames, in order; the last block is being filled
	n      int      // bytes queued
	free   [][]byte // empty blocks written and given back, last given back on top
	freeN  int      // the capacity of free
}

// Block sizes: a new block is about as big as the queue already is, so a
// link that queues a few small frames holds little, and a streaming one
// reaches maxBlock after a few blocks.
const (
	minBlock = 4 << 10
	maxBlock = writePiece
)

// Len returns the bytes queued.
func (q *blockQueue) Len() int { return q.n }

// append queues frame p.
func (q *blockQueue) append(p wire.Pieces) {
	n := p.Len()
	b := q.tail(n)
	*b = p.AppendTo(*b)
	q.n += n
}

// appendChunks queues frame p as CHUNK frames, size bytes in all.
func (q *blockQueue) appendChunks(p wire.Pieces, size int) {
	b := q.tail(size)
	*b = wire.AppendChunksOf(*b, p, wire.DefaultChunkSize)
	q.n += size
}

// prepend queues rest, whole frames, ahead of everything queued.
func (q *blockQueue) prepend(rest []byte) {
	q.blocks = append(q.blocks, nil)
	copy(q.blocks[1:], q.blocks)
	q.blocks[0] = rest
	q.n += len(rest)
}

// tail returns the last block when it has room for size more bytes, and a
// new last block with that room otherwise.
func (q *blockQueue) tail(size int) *[]byte {
	if k := len(q.blocks); k > 0 {
		if b := &q.blocks[k-1]; cap(*b)-len(*b) >= size {
			return b
		}
	}
	want := max(size, min(maxBlock, max(minBlock, q.n)))
	var b []byte
	if k := len(q.free); k > 0 && cap(q.free[k-1]) >= want {
		b = q.free[k-1][:0]
		q.free[k-1] = nil
		q.free = q.free[:k-1]
		q.freeN -= cap(b)
	} else {
		b = make([]byte, 0, want)
	}
	q.blocks = append(q.blocks, b)
	return &q.blocks[len(q.blocks)-1]
}

// take hands every queued block to the writer and leaves the queue empty,
// with spare (the list of blocks the writer gave back) for its list.
func (q *blockQueue) take(spare [][]byte) [][]byte {
	b := q.blocks
	q.blocks, q.n = spare[:0], 0
	return b
}

// recycle takes back blocks the writer has written, keeping as many as fit
// in limit bytes of free blocks, and clears the list for take.
func (q *blockQueue) recycle(blocks [][]byte, limit int) {
	for i, b := range blocks {
		if cap(b) >= minBlock && q.freeN+cap(b) <= limit {
			q.free = append(q.free, b[:0])
			q.freeN += cap(b)
		}
		blocks[i] = nil
	}
}

// release drops free blocks until at most keep bytes of them are left.
func (q *blockQueue) release(keep int) {
	for len(q.free) > 0 && q.freeN > keep {
		k := len(q.free) - 1
		q.freeN -= cap(q.free[k])
		q.free[k] = nil
		q.free = q.free[:k]
	}
	if len(q.free) == 0 {
		q.free = nil
	}
}

// reset empties the queue and drops every block.
func (q *blockQueue) reset() { *q = blockQueue{} }
