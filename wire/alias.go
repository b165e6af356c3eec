package wire

import (
	"bytes"
	"io"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// Large []byte values decoded from a payload whose buffer is handed over
// ([Registry.DecodeNameKept]: a frame reassembled from chunks, which its
// Assembler never reuses) alias the payload instead of being copied out of
// it: a 1 MiB message is then not copied (nor zeroed first) a third time
// on its way in. A value aliases only when it is at least aliasMin bytes
// and at least 1/aliasShare of the payload, so a small slice never keeps a
// much larger frame alive; its capacity is its length, so an append never
// writes into the bytes after it.
const (
	aliasMin   = 64 << 10
	aliasShare = 4
)

// keptBytes returns s, a []byte value inside the payload kept, aliased
// when kept is not nil and s is large enough (see aliasMin), else a copy
// (not zeroed first; empty: non-nil, as msgpack decodes it).
func keptBytes(s, kept []byte) []byte {
	if kept != nil && len(s) >= aliasMin && len(s)*aliasShare >= len(kept) {
		return s[:len(s):len(s)]
	}
	return bytes.Clone(s)
}

func init() {
	// msgpack's per-type decoders belong to the msgpack package, as its
	// extension registry does (fds.go): []byte, the one type registered
	// here, decodes as msgpack's own decoder does it for any other reader.
	msgpack.Register([]byte(nil), encodeBytesGap, decodeBytesKept)
}

// encodeBytesGap encodes a []byte as msgpack's encodeByteSliceValue does,
// except that into a payload encoded with gaps (Registry.AppendPayloadGaps)
// a value of at least GapMin bytes goes as a gap: its header is written,
// and the value itself, not a copy, is recorded with its place (gaps.go).
// Only the value's own slice becomes a gap, never bytes msgpack passes to
// its writer from a buffer of its own.
func encodeBytesGap(e *msgpack.Encoder, v reflect.Value) error {
	b := v.Bytes()
	if w, ok := e.Writer().(*appendWriter); ok && b != nil && w.gaps.take(len(b)) {
		if err := e.EncodeBytesLen(len(b)); err != nil {
			return err
		}
		w.gaps.add(len(w.b), b)
		return nil
	}
	return e.EncodeBytes(b)
}

// decodeBytesKept decodes a msgpack bin or str into a []byte, aliasing a
// kept payload (see aliasMin) and otherwise as msgpack's decodeBytesValue:
// into the value's own capacity when it is enough, else a new slice.
func decodeBytesKept(d *msgpack.Decoder, v reflect.Value) error {
	n, err := d.DecodeBytesLen()
	if err != nil {
		return err
	}
	if n < 0 {
		v.SetBytes(nil)
		return nil
	}
	if r, ok := d.Buffered().(*payloadReader); ok && r.kept != nil && n >= aliasMin && n*aliasShare >= len(r.kept) {
		if n > r.Len() {
			return io.ErrUnexpectedEOF
		}
		at := len(r.kept) - r.Len()
		if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
			return err
		}
		v.SetBytes(r.kept[at : at+n : at+n])
		return nil
	}
	b := v.Bytes()
	if b == nil || n > cap(b) {
		b = make([]byte, n)
	}
	b = b[:n]
	if err := d.ReadFull(b); err != nil {
		return err
	}
	v.SetBytes(b)
	return nil
}
