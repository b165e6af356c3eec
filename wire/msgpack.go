package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// maxPayloadDepth bounds the nesting of arrays and maps in a payload, so a
// hostile payload cannot exhaust the decoder's stack.
const maxPayloadDepth = 256

// msgpackNil is the msgpack encoding of nil.
const msgpackNil = 0xc0

// Decoded-size bounds. Before decoding, a payload's decoded size is
// estimated from its structure, about as if decoded into `any` (every
// object an interface slot, every map and slice a header of its own; Go
// maps allocate whole groups of slots, so small maps in `any` take up to 4
// times the estimate, while typed structs take less), and the payload is
// refused unless the estimate is at most MaxDecodeRatio times its length
// plus decodeSlack, and at most MaxDecodedSize. Strings and binaries count
// about their length, and the densest ordinary shapes (slices of small
// ints, slices of one-field structs) stay under 32 times, so what is
// refused are documents of empty or degenerate containers: an empty map
// is 1 byte and counts 64.
const (
	// MaxDecodeRatio bounds the estimated decoded size of a payload
	// relative to its length.
	MaxDecodeRatio = 32
	// MaxDecodedSize bounds the estimated decoded size of one payload.
	MaxDecodedSize = 256 << 20
	// decodeSlack lets small payloads of any shape through.
	decodeSlack = 64 << 10
)

// Estimated decoded sizes, in bytes, of the objects of a payload, on top
// of their encoded bytes.
const (
	costSlot  = 16            // an interface value: scalars
	costStr   = costSlot + 8  // a string's header and its size-class slack
	costBin   = costSlot + 32 // a []byte's header and its size-class slack
	costArray = costSlot + 24 // a slice header; elements count their own slots
	costMap   = costSlot + 48 // a map header; entries count their own
)

// ErrDecodeTooLarge is wrapped (with [ErrBadPayload]) by the errors of
// payloads whose estimated decoded size is over the bounds above.
var ErrDecodeTooLarge = errors.New("wire: payload would decode too large")

// Marshal returns the plain msgpack encoding of v (for bodies that are not
// registered user messages, such as system messages).
func Marshal(v any) ([]byte, error) {
	return msgpack.Marshal(v)
}

// Unmarshal decodes the msgpack document b into v, which must be a non-nil
// pointer. Any failure, including trailing bytes, wraps [ErrBadPayload];
// Unmarshal never panics on hostile input.
func Unmarshal(b []byte, v any) error {
	return decodeInto(b, v, "")
}

// payloadReader is the msgpack decoder's input; fds, when set, turns
// descriptor placeholders into values (see DecodeNameFDs).
type payloadReader struct {
	bytes.Reader
	fds  FDReceiver
	kept []byte // the payload, when its buffer is handed over (see alias.go)
}

type payloadDecoder struct {
	r   payloadReader
	dec *msgpack.Decoder
}

var decoderPool = sync.Pool{New: func() any {
	d := &payloadDecoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// badPayload builds an error wrapping ErrBadPayload; typeName is the wire
// type being decoded, if any.
func badPayload(typeName, format string, args ...any) error {
	if typeName != "" {
		format = fmt.Sprintf("type %q: ", typeName) + format
	}
	return fmt.Errorf("%w: "+format, append([]any{ErrBadPayload}, args...)...)
}

// decodeInto checks the structure of b, then decodes it into v. Errors wrap
// ErrBadPayload and name the wire type typeName, if given.
func decodeInto(b []byte, v any, typeName string) error {
	return decodeIntoFDs(b, v, typeName, nil)
}

// decodeIntoFDs is decodeInto for a payload whose descriptor placeholders
// fds resolves (nil: the payload may have none).
func decodeIntoFDs(b []byte, v any, typeName string, fds FDReceiver) (err error) {
	return decodePayload(b, v, typeName, fds, false)
}

// decodePayload is decodeIntoFDs; kept says that b's buffer is handed over,
// so that large []byte values may alias it (alias.go).
func decodePayload(b []byte, v any, typeName string, fds FDReceiver, kept bool) (err error) {
	if err := checkMsgpack(b); err != nil {
		return badPayload(typeName, "%w", err)
	}
	d := decoderPool.Get().(*payloadDecoder)
	d.r.Reset(b)
	d.r.fds = fds
	if kept {
		d.r.kept = b
	}
	d.dec.Reset(&d.r)
	defer func() {
		// Last-resort safety net: checkMsgpack already rejects what could
		// exhaust memory or stack, this keeps any decoder bug from taking
		// the context down. The decoder may be in a bad state: drop it.
		if p := recover(); p != nil {
			err = badPayload(typeName, "decoder panic: %v", p)
			return
		}
		d.r.Reset(nil)
		d.r.fds, d.r.kept = nil, nil
		d.dec.Reset(&d.r)
		decoderPool.Put(d)
	}()
	if err := d.dec.Decode(v); err != nil {
		return badPayload(typeName, "%w", err) // keeps ErrBadFD and the like
	}
	if d.r.Len() != 0 {
		return badPayload(typeName, "%d trailing bytes", d.r.Len())
	}
	return nil
}

// checkMsgpack walks b without recursion and checks that it is exactly one
// well-formed msgpack object: every length fits in the remaining bytes
// (so no declared length can make the decoder allocate more than the input
// justifies), containers nest at most maxPayloadDepth deep, the estimated
// decoded size is within bounds (errors wrap ErrDecodeTooLarge), and
// nothing trails.
func checkMsgpack(b []byte) error {
	_, err := scanMsgpack(b, min(MaxDecodeRatio*uint64(len(b))+decodeSlack, MaxDecodedSize))
	return err
}

// scanMsgpack is checkMsgpack with the decoded-size limit given; it returns
// the estimate.
func scanMsgpack(b []byte, limit uint64) (est uint64, err error) {
	// pending[i] is the number of objects still to read at depth i.
	pending := make([]uint64, 1, 8)
	pending[0] = 1
	pos := 0
	for len(pending) > 0 {
		top := len(pending) - 1
		if pending[top] == 0 {
			pending = pending[:top]
			continue
		}
		pending[top]--
		skip, children, err := msgpackHead(b[pos:])
		if err != nil {
			return est, fmt.Errorf("at offset %d: %v", pos, err)
		}
		if est += uint64(decodedCost[b[pos]]) + uint64(skip); est > limit {
			return est, fmt.Errorf("%w: %d bytes estimated by offset %d of %d, limit %d",
				ErrDecodeTooLarge, est, pos, len(b), limit)
		}
		pos += skip
		if children == 0 {
			continue
		}
		if children > uint64(len(b)-pos) {
			return est, fmt.Errorf("at offset %d: %d elements in %d bytes", pos, children, len(b)-pos)
		}
		if len(pending) > maxPayloadDepth {
			return est, fmt.Errorf("nested deeper than %d", maxPayloadDepth)
		}
		pending = append(pending, children)
	}
	if pos != len(b) {
		return est, fmt.Errorf("%d trailing bytes", len(b)-pos)
	}
	return est, nil
}

// decodedCost is the estimated decoded size of an object by its code
// byte, on top of its encoded bytes (for a container: its head; what is
// inside counts for itself).
var decodedCost = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= 0x80 && c <= 0x8f, c == 0xde, c == 0xdf:
			t[c] = costMap
		case c >= 0x90 && c <= 0x9f, c == 0xdc, c == 0xdd:
			t[c] = costArray
		case c >= 0xa0 && c <= 0xbf, c >= 0xd9 && c <= 0xdb:
			t[c] = costStr
		case c >= 0xc4 && c <= 0xc6:
			t[c] = costBin
		default:
			t[c] = costSlot
		}
	}
	return t
}()

type msgpackError string

func (e msgpackError) Error() string { return string(e) }

const (
	errMsgpackTruncated = msgpackError("truncated")
	errMsgpackReserved  = msgpackError("reserved code 0xc1")
)

// msgpackHead reads the object starting at b[0]. It returns the bytes the
// object takes itself (everything for scalars, strings, binaries and
// extensions; only the head for arrays and maps) and, for a container, the
// number of objects inside it.
func msgpackHead(b []byte) (skip int, children uint64, err error) {
	if len(b) == 0 {
		return 0, 0, errMsgpackTruncated
	}
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		return 1, 0, nil
	case c <= 0x8f: // fixmap
		return 1, 2 * uint64(c&0x0f), nil
	case c <= 0x9f: // fixarray
		return 1, uint64(c & 0x0f), nil
	case c <= 0xbf: // fixstr
		return sized(b, 1, uint64(c&0x1f))
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return 1, 0, nil
	case 0xc1:
		return 0, 0, errMsgpackReserved
	case 0xc4, 0xd9: // bin8, str8
		return lenPrefixed(b, 1, 0)
	case 0xc5, 0xda: // bin16, str16
		return lenPrefixed(b, 2, 0)
	case 0xc6, 0xdb: // bin32, str32
		return lenPrefixed(b, 4, 0)
	case 0xc7: // ext8: len, type, data
		return lenPrefixed(b, 1, 1)
	case 0xc8: // ext16
		return lenPrefixed(b, 2, 1)
	case 0xc9: // ext32
		return lenPrefixed(b, 4, 1)
	case 0xcc, 0xd0: // uint8, int8
		return sized(b, 1, 1)
	case 0xcd, 0xd1: // uint16, int16
		return sized(b, 1, 2)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return sized(b, 1, 4)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return sized(b, 1, 8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type, data
		return sized(b, 1, 1+uint64(1)<<(c-0xd4))
	case 0xdc: // array16
		n, err := count(b, 2)
		return 3, n, err
	case 0xdd: // array32
		n, err := count(b, 4)
		return 5, n, err
	case 0xde: // map16
		n, err := count(b, 2)
		return 3, 2 * n, err
	default: // 0xdf map32
		n, err := count(b, 4)
		return 5, 2 * n, err
	}
}

// sized accounts for an object of a head-byte prefix and n more bytes.
func sized(b []byte, head int, n uint64) (int, uint64, error) {
	if len(b) < head || n > uint64(len(b)-head) {
		return 0, 0, errMsgpackTruncated
	}
	return head + int(n), 0, nil
}

// lenPrefixed accounts for a code byte, a big-endian length of width bytes,
// extra bytes (the ext type) and the data.
func lenPrefixed(b []byte, width, extra int) (int, uint64, error) {
	n, err := count(b, width)
	if err != nil {
		return 0, 0, err
	}
	return sized(b, 1+width+extra, n)
}

// count reads the big-endian length of width bytes after the code byte.
func count(b []byte, width int) (uint64, error) {
	if len(b) < 1+width {
		return 0, errMsgpackTruncated
	}
	switch width {
	case 1:
		return uint64(b[1]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b[1:])), nil
	default:
		return uint64(binary.BigEndian.Uint32(b[1:])), nil
	}
}
