package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Protocol identity. The first three bytes of every frame (magic and
// version) keep their place in every future version, so a peer can always
// tell a version mismatch from garbage.
const (
	Magic   uint16 = 0x5350 // "SP"
	Version uint8  = 1
)

// Sizes of the header fields, in wire order.
const (
	sizeOfMagic   = 2
	sizeOfVersion = 1
	sizeOfFlags   = 1
	sizeOfKind    = 2
	sizeOfKVLen   = 2
	sizeOfDst     = 4
	sizeOfSrc     = 4
	sizeOfAuth    = 4
	sizeOfBodyLen = 4
)

// Offsets of the header fields.
const (
	offMagic   = 0
	offVersion = offMagic + sizeOfMagic
	offFlags   = offVersion + sizeOfVersion
	offKind    = offFlags + sizeOfFlags
	offKVLen   = offKind + sizeOfKind
	offDst     = offKVLen + sizeOfKVLen
	offSrc     = offDst + sizeOfDst
	offAuth    = offSrc + sizeOfSrc
	offBodyLen = offAuth + sizeOfAuth
)

// Frame size limits.
const (
	// HeaderSize is the size of the fixed frame header.
	HeaderSize = sizeOfMagic + sizeOfVersion + sizeOfFlags + sizeOfKind +
		sizeOfKVLen + sizeOfDst + sizeOfSrc + sizeOfAuth + sizeOfBodyLen

	// DefaultMaxFrame is the largest frame (header+kv+body) accepted by
	// default.
	DefaultMaxFrame = 128 << 20

	// MinMaxFrame is the smallest MaxFrame a peer may announce in its Hello.
	MinMaxFrame = 64 << 10

	// MaxKVLen is the largest key/value block a frame can carry.
	MaxKVLen = math.MaxUint16

	// MaxBodyLen is the largest body the length field can describe.
	MaxBodyLen = math.MaxUint32
)

// Header is the fixed 24-byte frame header, big-endian:
//
//	off size field
//	0   2    magic 0x5350 ("SP")
//	2   1    version
//	3   1    flags
//	4   2    kind
//	6   2    kv length (bytes of the key/value block after the header)
//	8   4    dst context ID
//	12  4    src context ID
//	16  4    auth context ID
//	20  4    body length (bytes after the kv block)
//
// The accessors expect len(h) >= HeaderSize, which [Header.Check] verifies
// and every [Frame] from a [Reader] guarantees. On a shorter slice they
// return zero and [Header.SetDst] does nothing; they never panic.
type Header []byte

func (h Header) full() bool { return len(h) >= HeaderSize }

// Magic returns the magic number field.
func (h Header) Magic() uint16 {
	if len(h) < offMagic+sizeOfMagic {
		return 0
	}
	return binary.BigEndian.Uint16(h[offMagic:])
}

// Version returns the protocol version field.
func (h Header) Version() uint8 {
	if len(h) < offVersion+sizeOfVersion {
		return 0
	}
	return h[offVersion]
}

// Flags returns the frame flags.
func (h Header) Flags() Flags {
	if !h.full() {
		return 0
	}
	return Flags(h[offFlags])
}

// SetFlags replaces the flags of h (on a short slice it does nothing).
func (h Header) SetFlags(f Flags) {
	if h.full() {
		h[offFlags] = byte(f)
	}
}

// Kind returns the frame kind.
func (h Header) Kind() Kind {
	if !h.full() {
		return 0
	}
	return Kind(binary.BigEndian.Uint16(h[offKind:]))
}

// KVLen returns the length of the key/value block.
func (h Header) KVLen() int {
	if !h.full() {
		return 0
	}
	return int(binary.BigEndian.Uint16(h[offKVLen:]))
}

// Dst returns the destination context ID.
func (h Header) Dst() uint32 {
	if !h.full() {
		return 0
	}
	return binary.BigEndian.Uint32(h[offDst:])
}

// Src returns the source context ID.
func (h Header) Src() uint32 {
	if !h.full() {
		return 0
	}
	return binary.BigEndian.Uint32(h[offSrc:])
}

// Auth returns the authority context ID: the context on whose behalf the
// frame was sent.
func (h Header) Auth() uint32 {
	if !h.full() {
		return 0
	}
	return binary.BigEndian.Uint32(h[offAuth:])
}

// BodyLen returns the length of the body.
func (h Header) BodyLen() int {
	if !h.full() {
		return 0
	}
	return int(binary.BigEndian.Uint32(h[offBodyLen:]))
}

// FrameLen returns HeaderSize + KVLen + BodyLen.
func (h Header) FrameLen() int { return HeaderSize + h.KVLen() + h.BodyLen() }

// frameLen64 is FrameLen computed without int overflow on 32-bit platforms.
func (h Header) frameLen64() uint64 {
	if !h.full() {
		return 0
	}
	return HeaderSize + uint64(binary.BigEndian.Uint16(h[offKVLen:])) +
		uint64(binary.BigEndian.Uint32(h[offBodyLen:]))
}

// Check validates the magic, the version and that the whole frame fits in
// maxFrame bytes (maxFrame <= 0 means [DefaultMaxFrame]). It returns
// [ErrBadMagic], a [*VersionError], an error wrapping [ErrFrameTooLarge]
// with both sizes, or [ErrTruncated] when h is too short to decide. The
// magic and version are checked as soon as their bytes are present, so a
// 3-byte prefix is enough to detect a version mismatch.
func (h Header) Check(maxFrame int) error {
	if len(h) < offVersion {
		return ErrTruncated
	}
	if h.Magic() != Magic {
		return ErrBadMagic
	}
	if len(h) < offVersion+sizeOfVersion {
		return ErrTruncated
	}
	if v := h.Version(); v != Version {
		return &VersionError{Local: Version, Remote: v}
	}
	if !h.full() {
		return ErrTruncated
	}
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if n := h.frameLen64(); n > uint64(maxFrame) {
		return fmt.Errorf("%w: %d bytes (kv %d, body %d), limit %d",
			ErrFrameTooLarge, n, h.KVLen(), uint64(binary.BigEndian.Uint32(h[offBodyLen:])), maxFrame)
	}
	return nil
}

// SetDst rewrites the destination context ID in place (used by routers).
func (h Header) SetDst(id uint32) {
	if !h.full() {
		return
	}
	binary.BigEndian.PutUint32(h[offDst:], id)
}

// FrameSpec describes a frame to append.
type FrameSpec struct {
	Kind  Kind
	Flags Flags
	Dst   uint32 // destination context ID
	Src   uint32 // source context ID
	Auth  uint32 // authority context ID
}

func appendHeader(dst []byte, s FrameSpec, kvLen uint16, bodyLen uint32) []byte {
	dst = binary.BigEndian.AppendUint16(dst, Magic)
	dst = append(dst, Version, byte(s.Flags))
	dst = binary.BigEndian.AppendUint16(dst, uint16(s.Kind))
	dst = binary.BigEndian.AppendUint16(dst, kvLen)
	dst = binary.BigEndian.AppendUint32(dst, s.Dst)
	dst = binary.BigEndian.AppendUint32(dst, s.Src)
	dst = binary.BigEndian.AppendUint32(dst, s.Auth)
	return binary.BigEndian.AppendUint32(dst, bodyLen)
}

// AppendFrame appends a complete frame (header, kv block, body) to dst and
// returns the extended slice. kv is an already-encoded block from
// [AppendKV] (may be nil).
//
// AppendFrame does not check sizes: the caller keeps len(kv) <= [MaxKVLen]
// and the frame within the peer's limit, using [CheckLen]. Longer inputs
// produce a frame whose length fields are wrong.
func AppendFrame(dst []byte, s FrameSpec, kv, body []byte) []byte {
	dst = slices.Grow(dst, HeaderSize+len(kv)+len(body))
	dst = appendHeader(dst, s, uint16(len(kv)), uint32(len(body)))
	dst = append(dst, kv...)
	return append(dst, body...)
}

// CheckLen reports whether a frame with a kv block of kvLen bytes and a
// body of bodyLen bytes can be sent to a peer accepting frames of at most
// maxFrame bytes (maxFrame <= 0 means [DefaultMaxFrame]). It returns an
// error wrapping [ErrMalformed] for negative lengths or a kv block over
// [MaxKVLen], and one wrapping [ErrFrameTooLarge] for an oversize frame.
func CheckLen(kvLen, bodyLen, maxFrame int) error {
	if kvLen < 0 || bodyLen < 0 {
		return malformed("negative length (kv %d, body %d)", kvLen, bodyLen)
	}
	if kvLen > MaxKVLen {
		return malformed("kv block of %d bytes, limit %d", kvLen, MaxKVLen)
	}
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if n := uint64(HeaderSize) + uint64(kvLen) + uint64(bodyLen); n > uint64(maxFrame) {
		return fmt.Errorf("%w: %d bytes (kv %d, body %d), limit %d",
			ErrFrameTooLarge, n, kvLen, bodyLen, maxFrame)
	}
	return nil
}

// BeginFrame appends a header with zero lengths to dst and returns the
// extended slice plus the offset of the header. The caller then appends the
// kv block and the body and calls [FinishFrame] to patch the lengths, so
// bodies can be encoded straight into the output buffer.
func BeginFrame(dst []byte, s FrameSpec) (out []byte, start int) {
	start = len(dst)
	return appendHeader(dst, s, 0, 0), start
}

// FinishFrame patches the lengths of the frame begun at buf[start:] by
// [BeginFrame]: the kv block is the kvLen bytes after the header and the
// body is everything after that up to len(buf). It returns an error
// wrapping [ErrMalformed], and leaves buf unchanged, if start or kvLen is
// out of range, kvLen exceeds [MaxKVLen] or the body exceeds [MaxBodyLen].
// It does not check the peer's frame limit; see [CheckLen].
func FinishFrame(buf []byte, start, kvLen int) error {
	return finishFrame(buf, start, kvLen, 0)
}

// FinishFrameGaps is [FinishFrame] for a frame encoded with gaps: the
// body is everything after the kv block up to len(buf), plus the g.Len()
// bytes of its gaps.
func FinishFrameGaps(buf []byte, start, kvLen int, g *Gaps) error {
	extra := 0
	if g != nil {
		extra = g.Len()
	}
	return finishFrame(buf, start, kvLen, extra)
}

func finishFrame(buf []byte, start, kvLen, extra int) error {
	if start < 0 || start > len(buf) || len(buf)-start < HeaderSize {
		return malformed("frame start %d out of range for a %d-byte buffer", start, len(buf))
	}
	if kvLen < 0 || kvLen > MaxKVLen {
		return malformed("kv block of %d bytes, limit %d", kvLen, MaxKVLen)
	}
	rest := len(buf) - start - HeaderSize
	if kvLen > rest {
		return malformed("kv block of %d bytes but only %d bytes follow the header", kvLen, rest)
	}
	body := uint64(rest-kvLen) + uint64(extra)
	if body > MaxBodyLen {
		return malformed("body of %d bytes, limit %d", body, uint64(MaxBodyLen))
	}
	h := Header(buf[start : start+HeaderSize])
	binary.BigEndian.PutUint16(h[offKVLen:], uint16(kvLen))
	binary.BigEndian.PutUint32(h[offBodyLen:], uint32(body))
	return nil
}
