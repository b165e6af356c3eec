package wire

import (
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// Encoding a large []byte without copying it. A sender that writes with
// writev does not need a frame's bytes in one buffer: an encoder given
// [Gaps] appends a large []byte value's msgpack header but not its bytes,
// and records the value itself (the caller's slice, not a copy) with the
// offset where its bytes belong. The frame is then [Pieces]: the buffer,
// and the gaps to insert into it. Whoever sends it must be done with the
// caller's slices before the send returns (copy what it queues), as a
// send of one buffer is done with that buffer.

// GapMin is the shortest []byte value an encoder leaves as a gap; shorter
// ones are copied into the buffer as usual.
const GapMin = 64 << 10

// A Gap is a []byte value left out of an encoder's output: its bytes
// belong at offset At of the buffer, before the byte that is there.
type Gap struct {
	At int
	B  []byte
}

// Gaps collects the gaps of one encoding. The zero value is ready; a nil
// *Gaps makes encoders copy everything.
type Gaps struct {
	list []Gap
	n    int
}

// add records b as a gap at offset at (offsets only grow).
func (g *Gaps) add(at int, b []byte) {
	g.list = append(g.list, Gap{At: at, B: b})
	g.n += len(b)
}

// take reports whether a []byte of n bytes becomes a gap of g.
func (g *Gaps) take(n int) bool { return g != nil && n >= GapMin }

// Len returns the bytes in the gaps (0 for a nil g).
func (g *Gaps) Len() int {
	if g == nil {
		return 0
	}
	return g.n
}

// List returns the gaps, in order.
func (g *Gaps) List() []Gap { return g.list }

// Reset empties g, keeping its memory; it forgets the slices it held.
func (g *Gaps) Reset() {
	clear(g.list)
	g.list, g.n = g.list[:0], 0
}

// Pieces returns the frame at buf[start:] with g's gaps (recorded while
// encoding into buf) as Pieces, which share g's list until g is Reset:
// nothing may be added to g after.
func (g *Gaps) Pieces(buf []byte, start int) Pieces {
	p := Pieces{Buf: buf[start:]}
	if g == nil || len(g.list) == 0 {
		return p
	}
	for i := range g.list {
		g.list[i].At -= start
	}
	p.Gaps = g.list
	return p
}

// Fill inserts the gaps' bytes into buf, where they belong, and returns
// the buffer (grown as needed) that holds everything; g is then empty.
func (g *Gaps) Fill(buf []byte) []byte {
	if g == nil || len(g.list) == 0 {
		return buf
	}
	out := Pieces{Buf: buf, Gaps: g.list}.AppendTo(make([]byte, 0, len(buf)+g.n))
	g.Reset()
	return out
}

// Pieces is a frame in memory as pieces: the bytes of Buf, with the bytes
// of each gap inserted at its offset (gaps in order of At, each At within
// Buf; the frame's header is in Buf). Len is the frame's length.
type Pieces struct {
	Buf  []byte
	Gaps []Gap
}

// Len returns the length of the frame.
func (p Pieces) Len() int {
	n := len(p.Buf)
	for _, g := range p.Gaps {
		n += len(g.B)
	}
	return n
}

// AppendTo appends the frame's bytes to dst.
func (p Pieces) AppendTo(dst []byte) []byte {
	return p.AppendRange(dst, 0, p.Len())
}

// AppendRange appends bytes [off, end) of the frame to dst.
func (p Pieces) AppendRange(dst []byte, off, end int) []byte {
	p.each(off, end, func(b []byte) { dst = append(dst, b...) })
	return dst
}

// Vec appends to iov the pieces that make bytes [off, end) of the frame,
// slices of Buf and of the gaps, without copying.
func (p Pieces) Vec(iov [][]byte, off, end int) [][]byte {
	p.each(off, end, func(b []byte) { iov = append(iov, b) })
	return iov
}

// each calls fn with the non-empty pieces of bytes [off, end), in order.
func (p Pieces) each(off, end int, fn func([]byte)) {
	pos, from := 0, 0 // frame offset of Buf[from:]
	emit := func(b []byte) {
		lo, hi := max(off-pos, 0), min(end-pos, len(b))
		if lo < hi {
			fn(b[lo:hi])
		}
		pos += len(b)
	}
	for _, g := range p.Gaps {
		if pos >= end {
			return
		}
		emit(p.Buf[from:g.At])
		from = g.At
		emit(g.B)
	}
	if pos < end {
		emit(p.Buf[from:])
	}
}

// AppendChunksOf is [AppendChunks] for a frame in pieces.
func AppendChunksOf(dst []byte, p Pieces, chunk int) []byte {
	return appendChunksOf(dst, p, chunk, true)
}

// AppendChunkHeadersOf is [AppendChunkHeaders] for a frame in pieces.
func AppendChunkHeadersOf(dst []byte, p Pieces, chunk int) []byte {
	return appendChunksOf(dst, p, chunk, false)
}

var customEncoderType = reflect.TypeFor[msgpack.CustomEncoder]()

// gapSafe reports whether the encoders may leave gaps in the encoding of
// a t, and whether that can happen at all (t reaches a []byte): whether no
// code but msgpack's and ours runs while it is encoded. A
// msgpack.CustomEncoder gets the encoder itself, and could encode a
// []byte of its own that it reuses once it returns (a gap must stay valid
// until the frame is sent), and an interface may hold one; so a type that
// reaches either keeps copying. Marshalers hand msgpack bytes that it
// writes, which never become gaps.
func gapSafe(t reflect.Type) bool {
	safe, bytes := gapWalk(t, map[reflect.Type]bool{})
	return safe && bytes
}

// gapWalk is gapSafe's walk: whether t is safe, and whether it reaches a
// []byte.
func gapWalk(t reflect.Type, seen map[reflect.Type]bool) (safe, bytes bool) {
	if seen[t] {
		return true, false
	}
	seen[t] = true
	if t.Implements(customEncoderType) || reflect.PointerTo(t).Implements(customEncoderType) {
		return false, false
	}
	switch t.Kind() {
	case reflect.Interface:
		return false, false
	case reflect.Slice:
		if t == bytesType {
			return true, true
		}
		return gapWalk(t.Elem(), seen)
	case reflect.Pointer, reflect.Array:
		return gapWalk(t.Elem(), seen)
	case reflect.Map:
		ks, kb := gapWalk(t.Key(), seen)
		vs, vb := gapWalk(t.Elem(), seen)
		return ks && vs, kb || vb
	case reflect.Struct:
		safe = true
		for i := range t.NumField() {
			s, b := gapWalk(t.Field(i).Type, seen)
			safe, bytes = safe && s, bytes || b
		}
		return safe, bytes
	}
	return true, false
}
