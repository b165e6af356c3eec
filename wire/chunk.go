package wire

import (
	"errors"
	"fmt"
)

// ErrChunkQuota is returned by [Assembler.Add] when a new stream would
// exceed the assembler's open streams, or a chunk its buffered bytes (see
// [Assembler.Limit]). The stream is dropped like any broken stream.
var ErrChunkQuota = errors.New("wire: chunk reassembly quota exceeded")

// Default reassembly limits of an [Assembler].
const (
	// DefaultChunkStreams is the most streams an Assembler assembles at
	// once.
	DefaultChunkStreams = 16
)

// DefaultChunkSize is the largest body of one [KindChunk] frame that
// [AppendChunks] writes when given no size: a writer sends at most this
// much bulk data between two chances to send a control frame.
const DefaultChunkSize = 128 << 10

// AppendChunks appends to dst the frame whole, cut into [KindChunk] frames
// of at most chunk body bytes (chunk <= 0 means [DefaultChunkSize]). Each
// chunk carries whole's dst, src and auth, so routers forward chunks like
// any frame; the first has [FlagStart], the last [FlagEnd] (a frame that
// fits one chunk gets both). The chunk bodies, concatenated, are the bytes
// of whole, header included; an [Assembler] at the destination gives them
// back as one frame. whole must be a frame built by this package.
func AppendChunks(dst, whole []byte, chunk int) []byte {
	return appendChunks(dst, whole, chunk, true)
}

// AppendChunkHeaders appends to dst the headers of the chunks
// [AppendChunks] would make of whole, HeaderSize bytes each: chunk i's body
// is whole[i*chunk : min((i+1)*chunk, len(whole))]. A writer that has
// whole in memory writes header and body pairs with one writev instead of
// copying whole into chunk frames first.
func AppendChunkHeaders(dst, whole []byte, chunk int) []byte {
	return appendChunks(dst, whole, chunk, false)
}

// appendChunks is AppendChunks, and AppendChunkHeaders without the bodies.
func appendChunks(dst, whole []byte, chunk int, bodies bool) []byte {
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	h := Header(whole)
	s := FrameSpec{Kind: KindChunk, Dst: h.Dst(), Src: h.Src(), Auth: h.Auth()}
	for off := 0; off < len(whole) || off == 0; off += chunk {
		end := min(off+chunk, len(whole))
		s.Flags = 0
		if off == 0 {
			s.Flags |= FlagStart
		}
		if end == len(whole) {
			s.Flags |= FlagEnd
		}
		dst = appendHeader(dst, s, 0, uint32(end-off))
		if bodies {
			dst = append(dst, whole[off:end]...)
		}
	}
	return dst
}

// ChunkedLen returns the length of AppendChunks' output for a frame of n
// bytes.
func ChunkedLen(n, chunk int) int {
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	pieces := max(1, (n+chunk-1)/chunk)
	return n + pieces*HeaderSize
}

// ParseFrame checks that b holds exactly one frame of at most maxFrame
// bytes (maxFrame <= 0 means [DefaultMaxFrame]) and returns it. Errors are
// those of [Header.Check], or wrap [ErrMalformed] when the lengths in the
// header do not match len(b).
func ParseFrame(b []byte, maxFrame int) (Frame, error) {
	h := Header(b)
	if err := h.Check(maxFrame); err != nil {
		return Frame{}, err
	}
	if h.FrameLen() != len(b) {
		return Frame{}, malformed("frame announces %d bytes, has %d", h.FrameLen(), len(b))
	}
	return Frame{Raw: b}, nil
}

// Assembler joins the [KindChunk] frames addressed to one context back into
// the frames they carry. It keeps one open stream per source context: chunks
// from one source arrive in order and never interleave with another chunked
// frame of the same source, because senders queue a frame's chunks together
// and every hop keeps a source's frames in order. An Assembler is not safe
// for concurrent use; a link's reader owns one.
type Assembler struct {
	max        int
	maxBytes   int // buffer capacity of all open streams together
	maxStreams int
	held       int // buffer capacity of the open streams
	open       map[uint32][]byte
	skip       map[uint32]bool // streams being discarded until their END
	spare      []byte
}

// NewAssembler returns an Assembler that accepts reassembled frames of at
// most maxFrame bytes (maxFrame <= 0 means [DefaultMaxFrame]), with at
// most [DefaultChunkStreams] streams open holding at most maxFrame bytes
// in all, until [Assembler.Limit] says otherwise.
func NewAssembler(maxFrame int) *Assembler {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &Assembler{max: maxFrame, maxBytes: maxFrame, maxStreams: DefaultChunkStreams,
		open: make(map[uint32][]byte), skip: make(map[uint32]bool)}
}

// Limit sets how many bytes the open streams may hold together (buffer
// capacity, not only what arrived) and how many streams may be open;
// values <= 0 keep the current limit. Beyond either, [Assembler.Add]
// fails with [ErrChunkQuota].
func (a *Assembler) Limit(bytes, streams int) {
	if bytes > 0 {
		a.maxBytes = bytes
	}
	if streams > 0 {
		a.maxStreams = streams
	}
}

// Add takes one [KindChunk] frame. When it completes a frame, Add returns
// it with done set; the frame aliases a buffer that stays valid until the
// next call to Add. An error (wrapping [ErrMalformed] or [ErrFrameTooLarge])
// means the stream of c's source was broken: it is dropped, and its
// remaining chunks are discarded silently up to its END. Errors never
// concern other sources.
func (a *Assembler) Add(c Frame) (whole Frame, done bool, err error) {
	h := c.Header()
	src, flags := h.Src(), h.Flags()
	if flags.Has(FlagStart) {
		if _, ok := a.open[src]; ok {
			a.drop(src)
			return a.fail(src, flags, malformed("chunk: START from context %d while its stream is open", src))
		}
		delete(a.skip, src)
		if len(a.open) >= a.maxStreams {
			return a.fail(src, flags, fmt.Errorf("%w: %d streams open, a new one from context %d", ErrChunkQuota, len(a.open), src))
		}
		a.open[src] = a.spare[:0]
		a.held += cap(a.spare)
		a.spare = nil
	} else if a.skip[src] {
		if flags.Has(FlagEnd) {
			delete(a.skip, src)
		}
		return Frame{}, false, nil
	}
	buf, ok := a.open[src]
	if !ok {
		return a.fail(src, flags, malformed("chunk from context %d without START", src))
	}
	body := c.Body()
	if len(buf)+len(body) > a.max {
		a.drop(src)
		return a.fail(src, flags, fmt.Errorf("%w: chunked frame from context %d over %d bytes", ErrFrameTooLarge, src, a.max))
	}
	if buf, err = a.grow(buf, len(body)); err != nil {
		a.drop(src)
		return a.fail(src, flags, fmt.Errorf("%w: stream from context %d", err, src))
	}
	buf = append(buf, body...)
	if !flags.Has(FlagEnd) {
		a.open[src] = buf
		return Frame{}, false, nil
	}
	a.held -= cap(buf)
	delete(a.open, src)
	if cap(buf) <= keepFrameBuf {
		a.spare = buf[:0]
	}
	whole, err = ParseFrame(buf, a.max)
	if err != nil {
		return Frame{}, false, fmt.Errorf("chunked frame from context %d: %w", src, err)
	}
	wh := whole.Header()
	if wh.Kind() == KindChunk || wh.Dst() != h.Dst() || wh.Src() != src || wh.Auth() != h.Auth() {
		return Frame{}, false, malformed("chunked frame from context %d: inner %s %d->%d (auth %d) does not match its chunks",
			src, wh.Kind(), wh.Src(), wh.Dst(), wh.Auth())
	}
	return whole, true, nil
}

// fail marks src's stream as discarded up to its END, unless c was the END.
func (a *Assembler) fail(src uint32, flags Flags, err error) (Frame, bool, error) {
	if !flags.Has(FlagEnd) {
		a.skip[src] = true
	}
	return Frame{}, false, err
}

// Drop forgets src's open stream, if any (its context is gone).
func (a *Assembler) Drop(src uint32) {
	a.drop(src)
	delete(a.skip, src)
}

func (a *Assembler) drop(src uint32) {
	a.held -= cap(a.open[src])
	delete(a.open, src)
}

// grow makes room for n more bytes in buf within the byte limit: it
// doubles the capacity (at least 4 KiB, at most the frame limit and what
// the limit leaves) and keeps a.held up to date.
func (a *Assembler) grow(buf []byte, n int) ([]byte, error) {
	need := len(buf) + n
	if need <= cap(buf) {
		return buf, nil
	}
	room := a.maxBytes - (a.held - cap(buf))
	if need > room {
		return nil, fmt.Errorf("%w: %d bytes held, limit %d", ErrChunkQuota, a.held, a.maxBytes)
	}
	c := min(max(need, 2*cap(buf), 4<<10), a.max, room)
	nb := make([]byte, len(buf), c)
	copy(nb, buf)
	a.held += c - cap(buf)
	return nb, nil
}

// Reset drops every open stream and forgets the discarded ones, freeing
// their buffers (the link they came over is gone).
func (a *Assembler) Reset() {
	clear(a.open)
	clear(a.skip)
	a.held = 0
	a.spare = nil
}

// Open returns the number of streams being assembled.
func (a *Assembler) Open() int { return len(a.open) }

// Held returns the buffer bytes the open streams hold.
func (a *Assembler) Held() int { return a.held }
