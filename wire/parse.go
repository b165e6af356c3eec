package wire

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// MaxNameLen is the longest string (actor ID, type name, reason) an
// Envelope or DeadReply carries.
const MaxNameLen = math.MaxUint16

// The parse helpers below follow x/crypto/ssh: each takes the input, returns
// the value and the rest, and reports ok=false instead of slicing past the
// end.

func parseU8(in []byte) (v uint8, rest []byte, ok bool) {
	if len(in) < 1 {
		return 0, nil, false
	}
	return in[0], in[1:], true
}

func parseU16(in []byte) (v uint16, rest []byte, ok bool) {
	if len(in) < 2 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(in), in[2:], true
}

func parseU32(in []byte) (v uint32, rest []byte, ok bool) {
	if len(in) < 4 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint32(in), in[4:], true
}

// parseBytes returns the first n bytes of in (aliased).
func parseBytes(in []byte, n int) (v, rest []byte, ok bool) {
	if n < 0 || len(in) < n {
		return nil, nil, false
	}
	return in[:n:n], in[n:], true
}

// parseName reads a uvarint length of at most MaxNameLen followed by that
// many bytes, and returns them aliased.
func parseName(in []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(in)
	if k <= 0 || n > MaxNameLen {
		return nil, nil, false
	}
	return parseBytes(in[k:], int(n))
}

// parseString reads a uvarint length of at most MaxNameLen followed by that
// many bytes, and returns them as a new string.
func parseString(in []byte) (s string, rest []byte, ok bool) {
	n, k := binary.Uvarint(in)
	if k <= 0 || n > MaxNameLen {
		return "", nil, false
	}
	v, rest, ok := parseBytes(in[k:], int(n))
	if !ok {
		return "", nil, false
	}
	return string(v), rest, true
}

// appendString appends a uvarint length and s, cut to MaxNameLen bytes.
func appendString(dst []byte, s string) []byte {
	s = clip(s, MaxNameLen)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
