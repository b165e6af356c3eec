package wire

import (
	"bufio"
	"errors"
	"io"
)

const (
	// readerBufSize is the size of the bufio.Reader under a Reader.
	readerBufSize = 128 << 10
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
	br  *bufio.Reader
	max int
	buf []byte
	err error
	off int64 // bytes of the frames returned so far
}

// NewReader returns a Reader that buffers r with a 128 KiB bufio.Reader and
// accepts frames of at most maxFrame bytes (maxFrame <= 0 means
// [DefaultMaxFrame]).
func NewReader(r io.Reader, maxFrame int) *Reader {
	rd := &Reader{br: bufio.NewReaderSize(r, readerBufSize)}
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

// Offset returns the stream offset just past the last frame ReadFrame
// returned: the sum of the lengths of all frames read so far. The frame
// ReadFrame returns next starts there.
func (r *Reader) Offset() int64 { return r.off }

func (r *Reader) readFrame() (Frame, error) {
	if r.buf == nil || cap(r.buf) > keepFrameBuf {
		r.buf = make([]byte, 0, initialFrameBuf)
	}
	h := Header(r.buf[:HeaderSize])
	// Magic and version first: their place is stable across versions,
	// the rest of the header is not.
	if _, err := io.ReadFull(r.br, h[:offFlags]); err != nil {
		return Frame{}, err // io.EOF when no byte at all was read
	}
	if err := h[:offFlags].Check(r.max); err != ErrTruncated {
		return Frame{}, err
	}
	if _, err := io.ReadFull(r.br, h[offFlags:]); err != nil {
		return Frame{}, unexpected(err)
	}
	if err := h.Check(r.max); err != nil {
		return Frame{}, err
	}
	buf, err := r.readRest(h.FrameLen())
	if err != nil {
		return Frame{}, err
	}
	return Frame{Raw: buf}, nil
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
		if _, err := io.ReadFull(r.br, buf[len(buf):end]); err != nil {
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

// unexpected turns an EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
