package wire

import (
	"encoding/binary"
	"math"
	"sort"
)

// Key/value block limits.
const (
	MaxKeyLen   = math.MaxUint8  // longest key in a kv block
	MaxValueLen = math.MaxUint16 // longest value in a kv block
)

// AppendKV appends the encoded key/value block for m to dst, entries sorted
// by key so the output is deterministic. Each entry is
//
//	klen u8 | key | vlen u16 | value
//
// An empty or nil map appends nothing. Keys must be 1..[MaxKeyLen] bytes,
// values at most [MaxValueLen] bytes and the whole block at most
// [MaxKVLen] bytes; otherwise AppendKV returns dst unchanged and an error
// wrapping [ErrMalformed].
func AppendKV(dst []byte, m map[string]string) ([]byte, error) {
	if len(m) == 0 {
		return dst, nil
	}
	keys := make([]string, 0, len(m))
	size := 0
	for k, v := range m {
		if len(k) == 0 || len(k) > MaxKeyLen {
			return dst, malformed("kv key of %d bytes, want 1..%d", len(k), MaxKeyLen)
		}
		if len(v) > MaxValueLen {
			return dst, malformed("kv value for %q of %d bytes, limit %d", k, len(v), MaxValueLen)
		}
		size += 1 + len(k) + 2 + len(v)
		keys = append(keys, k)
	}
	if size > MaxKVLen {
		return dst, malformed("kv block of %d bytes, limit %d", size, MaxKVLen)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		dst = append(dst, byte(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
		dst = append(dst, v...)
	}
	return dst, nil
}

// ParseKV decodes a key/value block. It returns a nil map for an empty
// block, and an error wrapping [ErrMalformed] for a block over [MaxKVLen],
// a truncated entry, an empty key or a duplicate key. Keys and values are
// copied out of b.
func ParseKV(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > MaxKVLen {
		return nil, malformed("kv block of %d bytes, limit %d", len(b), MaxKVLen)
	}
	m := make(map[string]string)
	for off := 0; len(b) > 0; {
		k, v, rest, err := parseKVEntry(b)
		if err != nil {
			return nil, malformed("kv entry at offset %d: %v", off, err)
		}
		key := string(k)
		if _, dup := m[key]; dup {
			return nil, malformed("kv entry at offset %d: duplicate key %q", off, key)
		}
		m[key] = string(v)
		off += len(b) - len(rest)
		b = rest
	}
	return m, nil
}

// RangeKV calls f with each entry of a key/value block, in order, until f
// returns false, without allocating; k and v alias b. It returns an error
// wrapping [ErrMalformed] (after calling f for the entries before it) for
// what [ParseKV] rejects, but for duplicate keys, which it does not look
// for.
func RangeKV(b []byte, f func(k, v []byte) bool) error {
	if len(b) > MaxKVLen {
		return malformed("kv block of %d bytes, limit %d", len(b), MaxKVLen)
	}
	for off := 0; len(b) > 0; {
		key, val, rest, err := parseKVEntry(b)
		if err != nil {
			return malformed("kv entry at offset %d: %v", off, err)
		}
		if !f(key, val) {
			return nil
		}
		off += len(b) - len(rest)
		b = rest
	}
	return nil
}

type kvError string

func (e kvError) Error() string { return string(e) }

func parseKVEntry(b []byte) (key, val, rest []byte, err error) {
	klen, b, ok := parseU8(b)
	if !ok {
		return nil, nil, nil, kvError("truncated key length")
	}
	if klen == 0 {
		return nil, nil, nil, kvError("empty key")
	}
	k, b, ok := parseBytes(b, int(klen))
	if !ok {
		return nil, nil, nil, kvError("truncated key")
	}
	vlen, b, ok := parseU16(b)
	if !ok {
		return nil, nil, nil, kvError("truncated value length")
	}
	v, b, ok := parseBytes(b, int(vlen))
	if !ok {
		return nil, nil, nil, kvError("truncated value")
	}
	return k, v, b, nil
}
