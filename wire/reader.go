package wire

import (
	"errors"
	"io"
)

const (
	// minReadBuf and maxReadBuf bound the read buffer under a Reader. It
	// starts at minReadBuf, doubles after a read that fills it, and drops
	// to a quarter after a read that used less than a quarter, so a
	// streaming link reads up to maxReadBuf per system call while an idle
	// one holds minReadBuf.
	minReadBuf = 4 << 10
	maxReadBuf = 128 << 10
	// shrinkReadAfter is how many short reads in a row shrink the read
	// buffer.
	shrinkReadAfter = 4
	// shrinkFrameAfter is how many frames in a row that would fit in a
	// quarter of the frame buffer make a Reader drop a frame buffer bigger
	// than initialFrameBuf.
	shrinkFrameAfter = 16
	// initialFrameBuf is the first capacity of a Reader's frame buffer.
	initialFrameBuf = 4 << 10
	// keepFrameBuf is the largest frame buffer a Reader keeps between
	// frames; a bigger one is dropped on the next ReadFrame, and frames
	// bigger than this are read in growing steps so a peer that announces a
	// large frame and sends little makes us allocate little.
	keepFrameBuf = 2 << 20
)

// Frame is one whole frame: header, kv block and body. Its accessors never
// panic, even on a Frame built by hand from a short Raw.
type Frame struct {
	Raw []byte // header + kv block + body
	// Owned says that Raw is handed over to whoever handles the frame:
	// nothing reuses or changes its bytes afterwards (a frame an
	// [Assembler] reassembled). Otherwise Raw is valid only until the
	// next frame is read.
	Owned bool
}

// Header returns the fixed header of f.
func (f Frame) Header() Header {
	if len(f.Raw) < HeaderSize {
		return Header(f.Raw)
	}
	return Header(f.Raw[:HeaderSize:HeaderSize])
}

// KV returns the encoded key/value block of f (empty when it has none).
func (f Frame) KV() []byte {
	end := HeaderSize + f.Header().KVLen()
	if len(f.Raw) < end {
		return nil
	}
	return f.Raw[HeaderSize:end:end]
}

// Body returns the body of f.
func (f Frame) Body() []byte {
	h := f.Header()
	start := HeaderSize + h.KVLen()
	end := start + h.BodyLen()
	if end < start || len(f.Raw) < end {
		return nil
	}
	return f.Raw[start:end:end]
}

// Reader reads frames from a byte stream. Reader is not safe for concurrent
// use; a link has one reading goroutine that owns it.
type Reader struct {
	br    readBuf
	max   int
	buf   []byte
	small int // frames in a row much smaller than buf
	err   error
	off   int64 // bytes of the frames returned so far
	place Placer
}

// A Placer chooses where a [Reader] puts a frame that is not wholly in its
// read buffer yet: Place gets the frame's header, checked, and returns nil
// (the Reader's own frame buffer) or a slice of exactly h.FrameLen() bytes,
// which the Reader fills with the frame, header included, and returns as
// the frame's Raw. Next guesses where the next frame goes before its
// header has arrived (nil: no guess): with nothing buffered, the Reader
// reads the stream straight into it, and keeps what Place then does not put
// at the same place in its read buffer. Both run on the Reader's goroutine;
// what they return is the Placer's, which decides how long it stays valid.
// An [Assembler] is a Placer: the chunks of a frame are read straight into
// the frame they carry.
type Placer interface {
	Place(h Header) []byte
	Next() []byte
}

// SetPlacer makes p choose where the frames go that ReadFrame reads from
// the stream rather than from its read buffer (nil: always the Reader's
// own buffer).
func (r *Reader) SetPlacer(p Placer) { r.place = p }

// NewReader returns a Reader over r that accepts frames of at most
// maxFrame bytes (maxFrame <= 0 means [DefaultMaxFrame]). Its read buffer
// grows with the stream's rate (4 KiB to 128 KiB) and shrinks when the
// stream slows down; frames longer than the buffer are read straight into
// the frame buffer.
func NewReader(r io.Reader, maxFrame int) *Reader {
	rd := &Reader{br: readBuf{src: r}}
	rd.SetMaxFrame(maxFrame)
	return rd
}

// SetMaxFrame changes the frame size limit, typically to the minimum of both
// sides' Hello.MaxFrame once the handshake is done. n <= 0 means
// [DefaultMaxFrame].
func (r *Reader) SetMaxFrame(n int) {
	if n <= 0 {
		n = DefaultMaxFrame
	}
	r.max = n
}

// ReadFrame reads the next whole frame. The returned Frame aliases an
// internal buffer that stays valid until the next call to ReadFrame.
//
// It returns io.EOF only for a clean end of stream at a frame boundary, and
// io.ErrUnexpectedEOF when the stream ends inside a frame. Header errors
// are those of [Header.Check] ([ErrBadMagic], [*VersionError],
// [ErrFrameTooLarge]); magic and version are checked after the first three
// bytes, and nothing is allocated for an oversize frame. Once ReadFrame has
// returned an error the stream has lost its framing, and every later call
// returns the same error.
func (r *Reader) ReadFrame() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	f, err := r.readFrame()
	if err != nil {
		r.err = err
		return Frame{}, err
	}
	r.off += int64(len(f.Raw))
	return f, nil
}

// Buffered returns how many bytes of the stream the Reader has read ahead
// of the frame ReadFrame returned last: more than zero means the next frame
// has (at least partly) arrived already.
func (r *Reader) Buffered() int { return r.br.w - r.br.r }

// NextBuffered reports whether the next frame is wholly in the read buffer
// already, so that the next ReadFrame returns it without reading from the
// stream (and so without waiting for the peer).
func (r *Reader) NextBuffered() bool {
	b := &r.br
	if b.w-b.r < HeaderSize {
		return false
	}
	return Header(b.b[b.r:b.r+HeaderSize]).frameLen64() <= uint64(b.w-b.r)
}

// Offset returns the stream offset just past the last frame ReadFrame
// returned: the sum of the lengths of all frames read so far. The frame
// ReadFrame returns next starts there.
func (r *Reader) Offset() int64 { return r.off }

// ReadBuffered returns the next frame when all of it is in the read buffer
// already, without reading the stream; ok is false when it is not (then
// [Reader.Fill] reads more). The frame aliases the read buffer, valid until
// the next call that reads (ReadFrame, ReadBuffered, Fill). Its errors are
// those of ReadFrame's header checks, and as sticky. Together with Fill it
// lets the read side pass between goroutines between frames: neither
// leaves part of a frame consumed.
func (r *Reader) ReadBuffered() (Frame, bool, error) {
	if r.err != nil {
		return Frame{}, false, r.err
	}
	f, ok, err := r.buffered()
	if err != nil {
		r.err = err
		return Frame{}, false, err
	}
	if ok {
		r.off += int64(len(f.Raw))
	}
	return f, ok, nil
}

// NextHeader returns the header of the next frame when it is in the read
// buffer (ok false otherwise). It is not checked; ReadBuffered checks it.
func (r *Reader) NextHeader() (Header, bool) {
	b := &r.br
	if b.w-b.r < HeaderSize {
		return nil, false
	}
	return Header(b.b[b.r : b.r+HeaderSize : b.r+HeaderSize]), true
}

// Fill reads the stream once, waiting until some bytes arrive, and adds
// them to the read buffer behind what is buffered, making room for the
// next frame (call ReadBuffered first: the header in the buffer is
// trusted). A source error is returned; it is kept for ReadFrame, after
// the bytes buffered before it, unless it is a timeout (an error with
// Timeout() true, as a read deadline gives): then nothing is consumed or
// kept, and the stream can be read again, by Fill or ReadFrame, once the
// deadline is moved. Fill reads at most to the end of the next frame or
// 4 KiB past its start, whichever is further.
func (r *Reader) Fill() error {
	if r.err != nil {
		return r.err
	}
	b := &r.br
	if err := b.srcError; err != nil {
		return err
	}
	need := HeaderSize
	if h, ok := r.NextHeader(); ok {
		need = h.FrameLen()
	}
	// Read no further than the next frame or a small buffer's worth: what
	// the holder of a link's read side leaves to the reader (a big frame, a
	// chunk to place) is copied once more for each byte read ahead.
	want := max(need, minReadBuf)
	switch {
	case b.r == b.w:
		b.r, b.w = 0, 0
		if len(b.b) < want {
			b.b = make([]byte, max(want, b.size()))
		}
	case b.r+need > len(b.b):
		if need > len(b.b) {
			nb := make([]byte, need)
			copy(nb, b.b[b.r:b.w])
			b.b = nb
		} else {
			copy(b.b, b.b[b.r:b.w])
		}
		b.w -= b.r
		b.r = 0
	}
	end := min(len(b.b), b.r+want) // > b.w: the frame is not all there
	n, err := b.src.Read(b.b[b.w:end])
	if n < 0 || n > end-b.w {
		n, err = 0, errInvalidRead
	}
	b.w += n
	if err != nil && !isTimeout(err) {
		b.srcError = err
	}
	return err
}

// isTimeout reports whether err is a timeout (a read deadline passed).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func (r *Reader) readFrame() (Frame, error) {
	if r.buf == nil || cap(r.buf) > keepFrameBuf || r.small >= shrinkFrameAfter {
		r.buf, r.small = make([]byte, 0, initialFrameBuf), 0
	}
	if f, ok, err := r.buffered(); ok || err != nil {
		return f, err
	}
	if r.place != nil && r.br.r == r.br.w && r.br.srcError == nil {
		if f, ok, err := r.readGuessed(); ok || err != nil {
			return f, err
		}
	}
	h := Header(r.buf[:HeaderSize])
	// Magic and version first: their place is stable across versions,
	// the rest of the header is not.
	if _, err := io.ReadFull(&r.br, h[:offFlags]); err != nil {
		return Frame{}, err // io.EOF when no byte at all was read
	}
	if err := h[:offFlags].Check(r.max); err != ErrTruncated {
		return Frame{}, err
	}
	if _, err := io.ReadFull(&r.br, h[offFlags:]); err != nil {
		return Frame{}, unexpected(err)
	}
	if err := h.Check(r.max); err != nil {
		return Frame{}, err
	}
	if r.place != nil {
		if dst := r.place.Place(h); dst != nil && len(dst) == h.FrameLen() {
			copy(dst, h)
			if err := r.br.readFull(dst[HeaderSize:]); err != nil {
				return Frame{}, unexpected(err)
			}
			return Frame{Raw: dst}, nil
		}
	}
	buf, err := r.readRest(h.FrameLen())
	if err != nil {
		return Frame{}, err
	}
	if cap(buf) > initialFrameBuf && len(buf) <= cap(buf)/4 {
		r.small++
	} else {
		r.small = 0
	}
	return Frame{Raw: buf}, nil
}

// readGuessed reads the next frame straight into the place the Placer
// guesses for it. ok is false when the frame goes elsewhere: what was read
// is then in the read buffer, for the usual path.
func (r *Reader) readGuessed() (f Frame, ok bool, err error) {
	guess := r.place.Next()
	if len(guess) < HeaderSize {
		return Frame{}, false, nil
	}
	got := 0
	for got < HeaderSize && err == nil {
		var n int
		n, err = r.br.src.Read(guess[got:])
		if n < 0 || n > len(guess)-got {
			return Frame{}, false, errInvalidRead
		}
		got += n
	}
	var hb [HeaderSize]byte
	copy(hb[:], guess)
	h := Header(hb[:])
	var dst []byte
	if got >= HeaderSize && h.Check(r.max) == nil {
		dst = r.place.Place(h) // puts back the Placer's bytes under the header
	}
	if dst == nil || len(dst) != h.FrameLen() || &dst[0] != &guess[0] {
		// Elsewhere: the usual path reads it from the read buffer.
		r.br.unread(hb[:min(got, HeaderSize)], guess[min(got, HeaderSize):got], err)
		return Frame{}, false, nil
	}
	copy(dst, hb[:])
	if got >= len(dst) {
		r.br.unread(guess[len(dst):got], nil, err) // the next frame's first bytes
	} else if err = r.br.readFull(dst[got:]); err != nil {
		return Frame{}, false, unexpected(err)
	}
	return Frame{Raw: dst}, true, nil
}

// buffered returns the next frame without a copy when all of it is in the
// read buffer already (a streaming link's usual case): the Frame aliases
// the read buffer, which the next fill, in the next ReadFrame, overwrites.
// ok is false when the frame is not all there; the header's errors are
// those of the copying path.
func (r *Reader) buffered() (f Frame, ok bool, err error) {
	b := &r.br
	if b.w-b.r < HeaderSize {
		return Frame{}, false, nil
	}
	h := Header(b.b[b.r : b.r+HeaderSize])
	if err := h.Check(r.max); err != nil {
		return Frame{}, false, err
	}
	n := h.FrameLen()
	if n > b.w-b.r {
		return Frame{}, false, nil
	}
	f = Frame{Raw: b.b[b.r : b.r+n : b.r+n]}
	b.r += n
	return f, true, nil
}

// readRest reads the kv block and body after the header in r.buf, growing
// the buffer as data arrives, and returns the whole frame.
func (r *Reader) readRest(n int) ([]byte, error) {
	buf := r.buf[:HeaderSize]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = growFrame(buf, n)
			r.buf = buf
		}
		end := min(n, cap(buf))
		if _, err := io.ReadFull(&r.br, buf[len(buf):end]); err != nil {
			return nil, unexpected(err)
		}
		buf = buf[:end]
	}
	r.buf = buf
	return buf, nil
}

// growFrame returns a copy of buf with more room towards a frame of n bytes:
// all of it up to keepFrameBuf, doubling beyond.
func growFrame(buf []byte, n int) []byte {
	c := max(n, min(2*cap(buf), keepFrameBuf))
	if n > keepFrameBuf {
		c = min(n, max(2*cap(buf), keepFrameBuf))
	}
	grown := make([]byte, len(buf), c)
	copy(grown, buf)
	return grown
}

// readBuf is the buffered reader under a Reader: bufio.Reader's job with a
// buffer that follows the stream's rate (see minReadBuf). Only the Reader's
// goroutine uses it.
type readBuf struct {
	src      io.Reader
	b        []byte // b[r:w] is buffered, unread
	r, w     int
	next     int // size of the buffer for the next fill
	small    int // reads in a row that used less than a quarter of the buffer
	srcError error
}

// Read implements io.Reader for io.ReadFull: it copies buffered bytes, or,
// with nothing buffered, reads a long p straight from src and a short one
// through a fill. An error of src is returned once, after the bytes read
// with it, as bufio.Reader does.
func (b *readBuf) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if err := b.srcError; err != nil {
			b.srcError = nil
			return 0, err
		}
		if len(p) >= b.size() {
			n, err := b.src.Read(p)
			if n < 0 || n > len(p) {
				return 0, errInvalidRead
			}
			b.resize(n, len(p))
			return n, err
		}
		if err := b.fill(); b.r == b.w {
			b.srcError = nil
			return 0, err
		}
	}
	n := copy(p, b.b[b.r:b.w])
	b.r += n
	return n, nil
}

// readFull fills p with the buffered bytes, then straight from src, never
// reading beyond p (so that a frame placed by a Placer ends at a read's
// end, and the next one can be read straight into its place too). An error
// of src after p is full is kept for the next Read.
func (b *readBuf) readFull(p []byte) error {
	n := copy(p, b.b[b.r:b.w])
	b.r += n
	p = p[n:]
	if len(p) == 0 {
		return nil
	}
	if err := b.srcError; err != nil {
		b.srcError = nil
		return err
	}
	for len(p) > 0 {
		m, err := b.src.Read(p)
		if m < 0 || m > len(p) {
			return errInvalidRead
		}
		p = p[m:]
		if err != nil {
			if len(p) > 0 {
				return err
			}
			b.srcError = err
		}
	}
	return nil
}

// unread puts a and then c, bytes read from src past what the buffer held
// (it is empty), back in the buffer; err is src's error with them, if any.
func (b *readBuf) unread(a, c []byte, err error) {
	n := len(a) + len(c)
	if cap(b.b) < n {
		b.b = make([]byte, max(n, b.size()))
	}
	b.b = b.b[:cap(b.b)]
	copy(b.b[copy(b.b, a):], c)
	b.r, b.w = 0, n
	if err != nil {
		b.srcError = err
	}
}

// errInvalidRead is returned when the source reports an impossible count.
var errInvalidRead = errors.New("wire: source returned an invalid read count")

func (b *readBuf) size() int { return max(b.next, minReadBuf) }

// fill reads once into an empty buffer of the current size; an error is
// kept for the Read after the bytes read with it.
func (b *readBuf) fill() error {
	if size := b.size(); len(b.b) != size {
		b.b = make([]byte, size)
	}
	b.r, b.w = 0, 0
	n, err := b.src.Read(b.b)
	if n < 0 || n > len(b.b) {
		n, err = 0, errInvalidRead
	}
	b.w = n
	b.resize(n, len(b.b))
	b.srcError = err
	return err
}

// resize sets the next buffer size from a read of n bytes into room bytes:
// double after a full read, a quarter after shrinkReadAfter reads in a row
// that used less than a quarter of the buffer (a stream of big frames
// alternates full and short reads: shrinking after each short one made a
// new buffer for every other read).
func (b *readBuf) resize(n, room int) {
	cur := b.size()
	switch {
	case n >= room && n >= cur:
		b.next, b.small = min(2*cur, maxReadBuf), 0
	case n < cur/4:
		if b.small++; b.small >= shrinkReadAfter {
			b.next, b.small = max(cur/4, minReadBuf), 0
		}
	default:
		b.small = 0
	}
}

// unexpected turns an EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
