package wire

import (
	"math/bits"
	"sync"
)

// Recycling a reassembled frame. A frame an [Assembler] hands over is
// never reused while anything may still read it (Frame.Owned): a decoded
// value can alias it (alias.go). When its receiver knows that nothing
// refers to it any more (its payload was decoded into copies: generated
// codecs copy, and so does a failed decode; [Registry.DecodeNameOwned]
// tells), it gives the frame back with [Assembler.Recycle], and the next
// stream of about the same length, on any link of the process, is
// assembled in it instead of a fresh, zeroed buffer.
//
// The recycled buffers wait in sync.Pools, one per power-of-two size
// class: they belong to no link (a peer can make us hold no more than
// what its own streams hold, within their quota, as before) and the
// garbage collector empties the pools, so an idle process keeps none.

// framePools[k] holds *[]byte buffers of capacity in [2^k, 2^(k+1)).
var framePools [bits.UintSize]sync.Pool

// sizeClass is the pool of a buffer of capacity c.
func sizeClass(c int) int { return bits.Len(uint(c)) - 1 }

// Recycle gives back a frame that Add returned, for a later stream's
// buffer. Only the handler of f may call it, once, and only when nothing
// (f itself, a decoded value, a slice kept from f.Raw) will read or write
// f.Raw again: the bytes are overwritten by another frame, which may be
// read on another link's goroutine. A frame that is not Owned, or larger
// than the frames an Assembler allocates whole, is left to the garbage
// collector.
func (a *Assembler) Recycle(f Frame) {
	c := cap(f.Raw)
	if !f.Owned || c == 0 || c > eagerChunkBuf {
		return
	}
	b := f.Raw[:0]
	framePools[sizeClass(c)].Put(&b)
}

// recycledFrame returns an empty buffer of capacity at least want and at
// most room: a recycled one of want's size class when there is one that
// big, else a new one.
func recycledFrame(want, room int) []byte {
	p := &framePools[sizeClass(want)]
	if v, ok := p.Get().(*[]byte); ok {
		if b := *v; cap(b) >= want && cap(b) <= room {
			return b[:0]
		}
		p.Put(v) // too small for this one: for the next
	}
	return make([]byte, 0, want)
}
