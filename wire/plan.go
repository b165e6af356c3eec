package wire

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// A struct plan is the reflective codec's per-type work, done once at
// Register: for a flat struct of plain fields (booleans, integers, floats,
// strings and []byte, under their Go or msgpack-tag names), the field
// offsets, kinds and encoded names. The plan encodes a value with the
// bytes vmihailenco/msgpack's encoder writes for it (checked at its first use),
// and decodes the payloads it understands without reflection: a map of
// known field names whose values have the plain encodings of their
// fields' kinds. Anything else (an array-encoded struct, an unknown field,
// a nil, a number that needs a conversion, trailing bytes) is left to the
// reflective decoder, which sees a fresh value: the outcome, error or
// value, is the reflective decoder's. Types with custom codecs (msgpack's
// CustomEncoder, Marshaler, encoding's binary and text marshalers),
// embedded or tagged-with-options fields, or named field types keep the
// reflective path.

// structPlan is the plan of one struct type.
type structPlan struct {
	fields []planField
	head   []byte // the map header of the encoding (all fields, in order)
	// t is the type; checked says whether the plan was found to agree
	// with msgpack (agrees), which is done at the plan's first use, not at
	// Register: a context's setup registers dozens of types, most of which
	// it never sends, and the check costs a reflective encode of each.
	t       reflect.Type
	once    sync.Once
	checked atomic.Bool
	usable  bool
}

// ok reports whether the plan writes and reads what msgpack does for its
// type, checking it on the first call; callers fall back to msgpack when
// it does not.
func (p *structPlan) ok() bool {
	if p.checked.Load() {
		return p.usable
	}
	p.once.Do(func() {
		p.usable = p.agrees(p.t)
		p.checked.Store(true)
	})
	return p.usable
}

// planField is one field of a struct plan.
type planField struct {
	name  string       // the field's wire name
	key   []byte       // name as an encoded msgpack string
	kind  reflect.Kind // reflect.Slice is []byte
	off   uintptr
	index int // in the struct, for the check at Register
}

// Interfaces that give a type a codec of its own in vmihailenco/msgpack.
var customCodecTypes = []reflect.Type{
	reflect.TypeFor[msgpack.CustomEncoder](),
	reflect.TypeFor[msgpack.CustomDecoder](),
	reflect.TypeFor[msgpack.Marshaler](),
	reflect.TypeFor[msgpack.Unmarshaler](),
	reflect.TypeFor[encoding.BinaryMarshaler](),
	reflect.TypeFor[encoding.BinaryUnmarshaler](),
	reflect.TypeFor[encoding.TextMarshaler](),
	reflect.TypeFor[encoding.TextUnmarshaler](),
	reflect.TypeFor[generatedMarshaler](),
	reflect.TypeFor[generatedUnmarshaler](),
}

var bytesType = reflect.TypeFor[[]byte]()

// newStructPlan returns the plan of t, or nil when t keeps the reflective
// path (see above).
func newStructPlan(t reflect.Type) *structPlan {
	if t.Kind() != reflect.Struct {
		return nil
	}
	for _, c := range customCodecTypes {
		if t.Implements(c) || reflect.PointerTo(t).Implements(c) {
			return nil
		}
	}
	p := &structPlan{}
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("msgpack")
		if f.Name == "_msgpack" || f.Anonymous || strings.ContainsAny(tag, ",\"' \t") {
			return nil
		}
		if tag == "-" || !f.IsExported() {
			continue // msgpack skips them too
		}
		name := f.Name
		if tag != "" {
			name = tag
		}
		if seen[name] || !plainField(f.Type) {
			return nil
		}
		seen[name] = true
		k := f.Type.Kind()
		if k == reflect.Uintptr {
			return nil
		}
		p.fields = append(p.fields, planField{name: name, key: appendStr(nil, name), kind: k, off: f.Offset, index: i})
	}
	p.head = appendMapLen(nil, len(p.fields))
	p.t = t
	return p
}

// plainField reports whether a field of type t has a plan: a predeclared
// boolean, integer, float or string type, or []byte.
func plainField(t reflect.Type) bool {
	if t == bytesType {
		return true
	}
	if t.PkgPath() != "" || t.Name() == "" {
		return false // a named type may have its own codec
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// agrees checks, at its first use (ok), that the plan writes what msgpack writes for
// a zero T and for a T with every field set (an extension or encoder that
// msgpack knows for T, and the plan cannot see, shows here), and that it
// reads back what it wrote.
func (p *structPlan) agrees(t reflect.Type) bool {
	zero := reflect.New(t)
	full := reflect.New(t)
	for _, f := range p.fields {
		fv := full.Elem().Field(f.index)
		switch f.kind {
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.String:
			fv.SetString("x")
		case reflect.Slice:
			fv.SetBytes([]byte{1})
		case reflect.Float32, reflect.Float64:
			fv.SetFloat(1.5)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			fv.SetInt(-100)
		default:
			fv.SetUint(200)
		}
	}
	for _, v := range []reflect.Value{zero, full} {
		want, err := msgpack.Marshal(v.Interface())
		if err != nil || !bytes.Equal(p.encode(nil, v.UnsafePointer()), want) {
			return false
		}
		back := reflect.New(t)
		if !p.decode(want, back.UnsafePointer(), false) || !reflect.DeepEqual(back.Elem().Interface(), v.Elem().Interface()) {
			return false
		}
	}
	return true
}

// encode appends the msgpack encoding of the struct at v, as msgpack's
// encoder writes it: a map of every field, in order, with int and uint in
// their shortest form and sized integers in their own width.
func (p *structPlan) encode(dst []byte, v unsafe.Pointer) []byte {
	return p.encodeGaps(dst, v, nil)
}

// encodeGaps is encode that leaves a []byte field of at least GapMin bytes
// as a gap of g (nil g: none).
func (p *structPlan) encodeGaps(dst []byte, v unsafe.Pointer, g *Gaps) []byte {
	dst = append(dst, p.head...)
	for i := range p.fields {
		f := &p.fields[i]
		dst = append(dst, f.key...)
		at := unsafe.Add(v, f.off)
		switch f.kind {
		case reflect.Bool:
			if *(*bool)(at) {
				dst = append(dst, 0xc3)
			} else {
				dst = append(dst, 0xc2)
			}
		case reflect.String:
			dst = appendStr(dst, *(*string)(at))
		case reflect.Slice:
			b := *(*[]byte)(at)
			switch {
			case b == nil:
				dst = append(dst, msgpackNil)
			case g.take(len(b)):
				dst = appendBinLen(dst, len(b))
				g.add(len(dst), b)
			default:
				dst = append(appendBinLen(dst, len(b)), b...)
			}
		case reflect.Int:
			dst = appendInt(dst, int64(*(*int)(at)))
		case reflect.Int8:
			dst = append(dst, 0xd0, byte(*(*int8)(at)))
		case reflect.Int16:
			dst = binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(*(*int16)(at)))
		case reflect.Int32:
			dst = binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(*(*int32)(at)))
		case reflect.Int64:
			dst = binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(*(*int64)(at)))
		case reflect.Uint:
			dst = appendUint(dst, uint64(*(*uint)(at)))
		case reflect.Uint8:
			dst = append(dst, 0xcc, *(*uint8)(at))
		case reflect.Uint16:
			dst = binary.BigEndian.AppendUint16(append(dst, 0xcd), *(*uint16)(at))
		case reflect.Uint32:
			dst = binary.BigEndian.AppendUint32(append(dst, 0xce), *(*uint32)(at))
		case reflect.Uint64:
			dst = binary.BigEndian.AppendUint64(append(dst, 0xcf), *(*uint64)(at))
		case reflect.Float32:
			dst = binary.BigEndian.AppendUint32(append(dst, 0xca), math.Float32bits(*(*float32)(at)))
		case reflect.Float64:
			dst = binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(*(*float64)(at)))
		}
	}
	return dst
}

// decode decodes b into the zero struct at v and reports true, or reports
// false when b is not one of the payloads the plan reads (see above); v is
// then partly written and must be dropped.
func (p *structPlan) decode(b []byte, v unsafe.Pointer, kept bool) bool {
	var payload []byte // what large []byte fields may alias (alias.go)
	if kept {
		payload = b
	}
	n, b, ok := mapLen(b)
	if !ok {
		return false
	}
	for ; n > 0; n-- {
		var key []byte
		if key, b, ok = str(b); !ok {
			return false
		}
		f := p.field(key)
		if f == nil {
			return false
		}
		if b, ok = f.decode(b, unsafe.Add(v, f.off), payload); !ok {
			return false
		}
	}
	return len(b) == 0
}

// field returns the field named key, or nil.
func (p *structPlan) field(key []byte) *planField {
	for i := range p.fields {
		if f := &p.fields[i]; f.name == string(key) {
			return f
		}
	}
	return nil
}

// decode reads f's value from the front of b into at and returns the rest;
// a []byte aliases kept, when not nil, as keptBytes says.
func (f *planField) decode(b []byte, at unsafe.Pointer, kept []byte) ([]byte, bool) {
	switch f.kind {
	case reflect.Bool:
		if len(b) == 0 || b[0]&^1 != 0xc2 {
			return b, false
		}
		*(*bool)(at) = b[0] == 0xc3
		return b[1:], true
	case reflect.String, reflect.Slice:
		if len(b) > 0 && b[0] == msgpackNil { // msgpack reads nil as "" or a nil slice
			if f.kind == reflect.String {
				*(*string)(at) = ""
			} else {
				*(*[]byte)(at) = nil
			}
			return b[1:], true
		}
		s, rest, ok := strOrBin(b)
		if !ok {
			return b, false
		}
		if f.kind == reflect.String {
			*(*string)(at) = string(s)
		} else {
			*(*[]byte)(at) = keptBytes(s, kept) // not zeroed first; empty: non-nil, as msgpack
		}
		return rest, true
	case reflect.Float32:
		if len(b) < 5 || b[0] != 0xca {
			return b, false
		}
		*(*float32)(at) = math.Float32frombits(binary.BigEndian.Uint32(b[1:]))
		return b[5:], true
	case reflect.Float64:
		if len(b) < 9 || b[0] != 0xcb {
			return b, false
		}
		*(*float64)(at) = math.Float64frombits(binary.BigEndian.Uint64(b[1:]))
		return b[9:], true
	}
	n, neg, rest, ok := integer(b)
	if !ok {
		return b, false
	}
	return rest, f.setInt(n, neg, at)
}

// setInt stores the integer n (negative if neg, then as its two's
// complement) in an integer field when it fits without conversion.
func (f *planField) setInt(n uint64, neg bool, at unsafe.Pointer) bool {
	i := int64(n)
	switch f.kind {
	case reflect.Int, reflect.Int64:
		if !neg && i < 0 {
			return false
		}
		if f.kind == reflect.Int {
			*(*int)(at) = int(i)
		} else {
			*(*int64)(at) = i
		}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		if !neg && i < 0 {
			return false
		}
		switch f.kind {
		case reflect.Int8:
			if i != int64(int8(i)) {
				return false
			}
			*(*int8)(at) = int8(i)
		case reflect.Int16:
			if i != int64(int16(i)) {
				return false
			}
			*(*int16)(at) = int16(i)
		default:
			if i != int64(int32(i)) {
				return false
			}
			*(*int32)(at) = int32(i)
		}
	default:
		if neg {
			return false
		}
		switch f.kind {
		case reflect.Uint:
			*(*uint)(at) = uint(n)
		case reflect.Uint64:
			*(*uint64)(at) = n
		case reflect.Uint8:
			if n > math.MaxUint8 {
				return false
			}
			*(*uint8)(at) = uint8(n)
		case reflect.Uint16:
			if n > math.MaxUint16 {
				return false
			}
			*(*uint16)(at) = uint16(n)
		default:
			if n > math.MaxUint32 {
				return false
			}
			*(*uint32)(at) = uint32(n)
		}
	}
	return true
}

// integer reads a msgpack integer: its bits, and whether it is negative.
func integer(b []byte) (n uint64, neg bool, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, false, b, false
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return uint64(c), false, b[1:], true
	case c >= 0xe0:
		return uint64(int64(int8(c))), true, b[1:], true
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, false, b, false
	}
	if len(b) < 1+size {
		return 0, false, b, false
	}
	signed := c >= 0xd0
	switch size {
	case 1:
		if signed {
			n = uint64(int64(int8(b[1])))
		} else {
			n = uint64(b[1])
		}
	case 2:
		if signed {
			n = uint64(int64(int16(binary.BigEndian.Uint16(b[1:]))))
		} else {
			n = uint64(binary.BigEndian.Uint16(b[1:]))
		}
	case 4:
		if signed {
			n = uint64(int64(int32(binary.BigEndian.Uint32(b[1:]))))
		} else {
			n = uint64(binary.BigEndian.Uint32(b[1:]))
		}
	default:
		n = binary.BigEndian.Uint64(b[1:])
	}
	return n, signed && int64(n) < 0, b[1+size:], true
}

// mapLen reads a map header.
func mapLen(b []byte) (int, []byte, bool) {
	switch {
	case len(b) == 0:
		return 0, b, false
	case b[0]&0xf0 == 0x80:
		return int(b[0] & 0x0f), b[1:], true
	case b[0] == 0xde && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), b[3:], true
	}
	return 0, b, false
}

// str reads a string (fixstr or str8: field names), aliasing b.
func str(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, b, false
	}
	n, h := 0, 0
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		n, h = int(c&0x1f), 1
	case c == 0xd9 && len(b) >= 2:
		n, h = int(b[1]), 2
	default:
		return nil, b, false
	}
	if len(b)-h < n {
		return nil, b, false
	}
	return b[h : h+n], b[h+n:], true
}

// strOrBin reads a string or a binary of any size, aliasing b: msgpack's
// decoder reads either into a string or a []byte.
func strOrBin(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, b, false
	}
	n, h := uint64(0), 0
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		n, h = uint64(c&0x1f), 1
	case (c == 0xd9 || c == 0xc4) && len(b) >= 2:
		n, h = uint64(b[1]), 2
	case (c == 0xda || c == 0xc5) && len(b) >= 3:
		n, h = uint64(binary.BigEndian.Uint16(b[1:])), 3
	case (c == 0xdb || c == 0xc6) && len(b) >= 5:
		n, h = uint64(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, b, false
	}
	if uint64(len(b)-h) < n {
		return nil, b, false
	}
	return b[h : h+int(n)], b[h+int(n):], true
}

// appendStr appends s as msgpack's encoder writes a string.
func appendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 256:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

// appendBinLen appends a binary's header as msgpack's encoder writes it.
func appendBinLen(dst []byte, n int) []byte {
	switch {
	case n < 256:
		return append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
}

// appendMapLen appends a map header as msgpack's encoder writes it.
func appendMapLen(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}

// appendUint appends n in its shortest msgpack form (msgpack's EncodeUint).
func appendUint(dst []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), n)
}

// appendInt appends n in its shortest msgpack form (msgpack's EncodeInt).
func appendInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(dst, uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(n))
}
