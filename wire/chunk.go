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
	return appendChunksOf(dst, Pieces{Buf: whole}, chunk, true)
}

// AppendChunkHeaders appends to dst the headers of the chunks
// [AppendChunks] would make of whole, HeaderSize bytes each: chunk i's body
// is whole[i*chunk : min((i+1)*chunk, len(whole))]. A writer that has
// whole in memory writes header and body pairs with one writev instead of
// copying whole into chunk frames first.
func AppendChunkHeaders(dst, whole []byte, chunk int) []byte {
	return appendChunksOf(dst, Pieces{Buf: whole}, chunk, false)
}

// appendChunksOf is AppendChunksOf, and AppendChunkHeaders without the
// bodies.
func appendChunksOf(dst []byte, whole Pieces, chunk int, bodies bool) []byte {
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	h := Header(whole.Buf)
	s := FrameSpec{Kind: KindChunk, Dst: h.Dst(), Src: h.Src(), Auth: h.Auth()}
	n := whole.Len()
	for off := 0; off < n || off == 0; off += chunk {
		end := min(off+chunk, n)
		s.Flags = 0
		if off == 0 {
			s.Flags |= FlagStart
		}
		if end == n {
			s.Flags |= FlagEnd
		}
		dst = appendHeader(dst, s, 0, uint32(end-off))
		if bodies {
			dst = whole.AppendRange(dst, off, end)
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
//
// The first chunk of a stream starts with the header of the frame it
// carries: the Assembler checks it at once (magic, version, the frame
// limit) and allocates the frame's announced length, when it is at most
// 2 MiB (as [Reader] does for a frame) and fits the byte limit; a longer frame grows by doubling
// as its chunks arrive, never beyond its announced length. A stream whose
// chunks carry more or fewer bytes than announced is broken. As a [Placer]
// (see [Reader.SetPlacer]) it has the Reader put the body of each later
// chunk of an open stream straight where it belongs in the frame.
type Assembler struct {
	max        int
	maxBytes   int // buffer capacity of all open streams together
	maxStreams int
	held       int // buffer capacity of the open streams
	open       map[uint32]*stream
	skip       map[uint32]bool  // streams being discarded until their END
	spare      []byte           // a buffer for the next stream: a broken stream's, or allocated ahead (see Next)
	nextWant   int              // the length of the frame the last stream carried, until Next allocates a spare for it
	placed     *stream          // the stream Place or Next put the last chunk in, until Add or restore
	saved      [HeaderSize]byte // the bytes of placed.buf the chunk's header covers
	last       *stream          // the stream the last chunk went to, while it is open
}

// stream is one frame being reassembled.
type stream struct {
	src       uint32
	buf       []byte // the frame so far; cap(buf) counts in Assembler.held
	want      int    // the frame's announced length; 0 when the first chunk was too short to tell
	dst, auth uint32 // of the first chunk: later chunks must match to be placed
}

// eagerChunkBuf is the longest announced frame an Assembler allocates whole
// when its first chunk arrives (a Reader's limit for frames); beyond it,
// the buffer grows with what arrives, so a peer that announces a large
// frame and sends little makes us allocate little.
const eagerChunkBuf = keepFrameBuf

// NewAssembler returns an Assembler that accepts reassembled frames of at
// most maxFrame bytes (maxFrame <= 0 means [DefaultMaxFrame]), with at
// most [DefaultChunkStreams] streams open holding at most maxFrame bytes
// in all, until [Assembler.Limit] says otherwise.
func NewAssembler(maxFrame int) *Assembler {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &Assembler{max: maxFrame, maxBytes: maxFrame, maxStreams: DefaultChunkStreams,
		open: make(map[uint32]*stream), skip: make(map[uint32]bool)}
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

// Place implements [Placer]: for a chunk that continues an open stream
// (same source, destination and authority as its first chunk, not its
// first, within the room the stream's buffer has), it returns the place of
// the chunk in that buffer: the HeaderSize bytes before the stream's end,
// which it saves, and the body's place after them. [Assembler.Add] of that
// frame then only puts the saved bytes back; any other call puts them back
// first, so a placed chunk that is never added (dropped by the router)
// leaves the stream as it was.
func (a *Assembler) Place(h Header) []byte {
	a.restore()
	if h.Kind() != KindChunk || h.KVLen() != 0 || h.Flags().Has(FlagStart) {
		return nil
	}
	s, ok := a.open[h.Src()]
	if !ok || s.dst != h.Dst() || s.auth != h.Auth() || len(s.buf) < HeaderSize {
		return nil
	}
	n := len(s.buf)
	if h.BodyLen() > cap(s.buf)-n || (s.want > 0 && n+h.BodyLen() > s.want) {
		return nil // Add grows the buffer, or breaks the stream
	}
	copy(a.saved[:], s.buf[n-HeaderSize:n])
	a.placed = s
	return s.buf[n-HeaderSize : n+h.BodyLen()]
}

// Next implements [Placer]: the place of a chunk that would continue the
// stream the last chunk went to, up to [DefaultChunkSize] of body (the
// bytes before the stream's end that its header would cover are saved as
// by Place). Any later call puts them back first.
//
// With no stream to continue, Next is where the Reader is about to wait
// for the stream: the moment to allocate (and zero) the buffer of the next
// frame, off the path of the frame itself. When the last stream carried a
// frame the Assembler allocated whole, Next allocates a spare of its
// length, once per such frame, within what the byte limit leaves; the
// next stream takes it if it fits and drops it otherwise.
func (a *Assembler) Next() []byte {
	a.restore()
	s := a.last
	if s == nil || a.open[s.src] != s {
		a.prepare()
		return nil
	}
	if len(s.buf) < HeaderSize {
		return nil
	}
	n := len(s.buf)
	end := min(cap(s.buf), n+DefaultChunkSize)
	if s.want > 0 {
		end = min(end, s.want)
	}
	if end <= n {
		return nil
	}
	copy(a.saved[:], s.buf[n-HeaderSize:n])
	a.placed = s
	return s.buf[n-HeaderSize : end]
}

// prepare allocates the spare for a frame of the length the last stream
// carried (see Next).
func (a *Assembler) prepare() {
	want := a.nextWant
	if want == 0 || a.spare != nil {
		return
	}
	a.nextWant = 0
	if room := a.maxBytes - a.held; want <= room {
		a.spare = recycledFrame(want, room)
	}
}

// restore puts back the bytes a placed chunk's header covers.
func (a *Assembler) restore() {
	if s := a.placed; s != nil {
		copy(s.buf[len(s.buf)-HeaderSize:], a.saved[:])
		a.placed = nil
	}
}

// isPlaced reports whether c is the chunk Place put at the end of s.
func (a *Assembler) isPlaced(s *stream, c Frame) bool {
	n := len(s.buf)
	return a.placed == s && len(c.Raw) > HeaderSize && cap(s.buf) >= n-HeaderSize+len(c.Raw) &&
		&c.Raw[0] == &s.buf[n-HeaderSize]
}

// Add takes one [KindChunk] frame. When it completes a frame, Add returns
// it with done set; the frame's buffer is handed over (Owned): the
// Assembler never uses it again. An error (wrapping [ErrMalformed] or [ErrFrameTooLarge])
// means the stream of c's source was broken: it is dropped, and its
// remaining chunks are discarded silently up to its END. Errors never
// concern other sources. A chunk Place put in a stream is changed by Add:
// the bytes of its header give way to the frame's, so read what you need
// of c's header before.
func (a *Assembler) Add(c Frame) (whole Frame, done bool, err error) {
	// A placed chunk's header is overwritten when the stream is restored.
	var hb [HeaderSize]byte
	h := Header(hb[:copy(hb[:], c.Header())])
	src, flags := h.Src(), h.Flags()
	if flags.Has(FlagStart) {
		a.restore()
		return a.start(c)
	}
	if a.skip[src] {
		a.restore()
		if flags.Has(FlagEnd) {
			delete(a.skip, src)
		}
		return Frame{}, false, nil
	}
	s, ok := a.open[src]
	if !ok {
		a.restore()
		return a.fail(src, flags, malformed("chunk from context %d without START", src))
	}
	body := c.Body()
	if a.isPlaced(s, c) {
		a.restore()
		s.buf = s.buf[:len(s.buf)+len(body)]
	} else {
		a.restore()
		if err := a.append(s, src, body); err != nil {
			return a.fail(src, flags, err)
		}
	}
	if !flags.Has(FlagEnd) {
		a.last = s
		return Frame{}, false, nil
	}
	return a.finish(s, h)
}

// start opens the stream of a chunk with FlagStart.
func (a *Assembler) start(c Frame) (Frame, bool, error) {
	h := c.Header()
	src, flags := h.Src(), h.Flags()
	if _, ok := a.open[src]; ok {
		a.drop(src)
		return a.fail(src, flags, malformed("chunk: START from context %d while its stream is open", src))
	}
	delete(a.skip, src)
	if len(a.open) >= a.maxStreams {
		return a.fail(src, flags, fmt.Errorf("%w: %d streams open, a new one from context %d", ErrChunkQuota, len(a.open), src))
	}
	body := c.Body()
	s := &stream{src: src, dst: h.Dst(), auth: h.Auth()}
	if len(body) >= HeaderSize {
		inner := Header(body[:HeaderSize])
		if err := inner.Check(a.max); err != nil {
			return a.fail(src, flags, fmt.Errorf("chunked frame from context %d: %w", src, err))
		}
		s.want = inner.FrameLen()
	}
	if s.want > 0 && s.want <= eagerChunkBuf {
		room := a.maxBytes - a.held
		if s.want > room {
			return a.fail(src, flags, fmt.Errorf("%w: a %d-byte frame from context %d, %d bytes held, limit %d",
				ErrChunkQuota, s.want, src, a.held, a.maxBytes))
		}
		switch {
		case cap(a.spare) >= s.want && cap(a.spare) <= room:
			s.buf, a.spare = a.spare[:0], nil
		default:
			a.spare = nil // a spare that does not fit goes: the limit counts the streams' buffers
			s.buf = recycledFrame(s.want, room)
		}
	} else {
		s.buf, a.spare = a.spare[:0], nil
	}
	a.held += cap(s.buf)
	a.open[src] = s
	if err := a.append(s, src, body); err != nil {
		return a.fail(src, flags, err)
	}
	if !flags.Has(FlagEnd) {
		a.last = s
		return Frame{}, false, nil
	}
	return a.finish(s, h)
}

// append copies a chunk's body to the end of s, within the limits; on an
// error the stream is dropped.
func (a *Assembler) append(s *stream, src uint32, body []byte) error {
	n := len(s.buf) + len(body)
	switch {
	case n > a.max:
		a.drop(src)
		return fmt.Errorf("%w: chunked frame from context %d over %d bytes", ErrFrameTooLarge, src, a.max)
	case s.want > 0 && n > s.want:
		a.drop(src)
		return malformed("chunked frame from context %d: more than the %d bytes it announces", src, s.want)
	}
	buf, err := a.grow(s, len(body))
	if err != nil {
		a.drop(src)
		return fmt.Errorf("%w: stream from context %d", err, src)
	}
	s.buf = append(buf, body...)
	return nil
}

// finish closes the stream s, whose END chunk (header h) was added, and
// checks the frame it carried.
func (a *Assembler) finish(s *stream, h Header) (Frame, bool, error) {
	src := h.Src()
	buf := s.buf
	a.held -= cap(buf)
	delete(a.open, src)
	if a.last == s {
		a.last = nil
	}
	whole, err := ParseFrame(buf, a.max)
	if err != nil {
		if cap(buf) <= keepFrameBuf {
			a.spare = buf[:0]
		}
		return Frame{}, false, fmt.Errorf("chunked frame from context %d: %w", src, err)
	}
	whole.Owned = true // handed over: never a spare
	if s.want > 0 && s.want <= eagerChunkBuf {
		a.nextWant = s.want // its successor's buffer is allocated ahead (Next)
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
	a.restore()
	a.drop(src)
	delete(a.skip, src)
}

func (a *Assembler) drop(src uint32) {
	if s, ok := a.open[src]; ok {
		if a.placed == s {
			a.placed = nil
		}
		if a.last == s {
			a.last = nil
		}
		a.held -= cap(s.buf)
		delete(a.open, src)
	}
}

// grow makes room for n more bytes in s.buf within the byte limit: it
// doubles the capacity (at least 4 KiB, at most the frame limit, the
// frame's announced length and what the limit leaves) and keeps a.held up
// to date.
func (a *Assembler) grow(s *stream, n int) ([]byte, error) {
	buf := s.buf
	need := len(buf) + n
	if need <= cap(buf) {
		return buf, nil
	}
	a.spare = nil // a growing stream may need the room a spare would take
	room := a.maxBytes - (a.held - cap(buf))
	if need > room {
		return nil, fmt.Errorf("%w: %d bytes held, limit %d", ErrChunkQuota, a.held, a.maxBytes)
	}
	c := min(max(need, 2*cap(buf), 4<<10), a.max, room)
	if s.want > 0 {
		c = min(c, s.want)
	}
	nb := make([]byte, len(buf), c)
	copy(nb, buf)
	a.held += c - cap(buf)
	return nb, nil
}

// Reset drops every open stream and forgets the discarded ones, freeing
// their buffers (the link they came over is gone).
func (a *Assembler) Reset() {
	a.placed, a.last = nil, nil
	clear(a.open)
	clear(a.skip)
	a.held = 0
	a.spare, a.nextWant = nil, 0
}

// Open returns the number of streams being assembled.
func (a *Assembler) Open() int { return len(a.open) }

// Held returns the buffer bytes the open streams hold.
func (a *Assembler) Held() int { return a.held }
