package boot

import (
	"errors"
	"io"
	"slices"
	"sync"
)

// Codecs compress a binary for an upload (the bootstrap) and between hops
// (spawn's binary service). None is linked here: package spawn/compress
// registers zstd and gzip, and every method package imports it, so a
// program that starts only local contexts neither links nor initialises a
// compressor (its child contexts are the same program; docs/spawn.md,
// "Compression").

// A Codec encodes a binary as a whole and decodes a stream of one.
type Codec struct {
	// Encode returns raw, compressed.
	Encode func(raw []byte) ([]byte, error)
	// NewReader returns a reader of r's decoded bytes that holds at most
	// about maxMemory bytes of decoder state.
	NewReader func(r io.Reader, maxMemory uint64) (io.ReadCloser, error)
}

// ErrNoCodec: the codec asked for is not linked into this program (package
// spawn/compress registers zstd and gzip).
var ErrNoCodec = errors.New("spawn: codec not linked into this program (import github.com/spindle-go/spindle/spawn/compress)")

var codecs struct {
	sync.RWMutex
	m map[string]Codec
}

// RegisterCodec makes c the codec called name ("zstd", "gzip"), for
// PickCodec, Binary.Encoded and CodecOf. It is meant for package init.
func RegisterCodec(name string, c Codec) {
	codecs.Lock()
	defer codecs.Unlock()
	if codecs.m == nil {
		codecs.m = map[string]Codec{}
	}
	codecs.m[name] = c
}

// CodecOf returns the codec called name, if this program links it.
func CodecOf(name string) (Codec, bool) {
	codecs.RLock()
	defer codecs.RUnlock()
	c, ok := codecs.m[name]
	return c, ok
}

// PickCodec chooses the best encoding the remote host offers among those
// this program links: zstd, then gzip, else raw.
func PickCodec(offered []string) string {
	for _, c := range []string{codecZstd, codecGzip} {
		if _, ok := CodecOf(c); ok && slices.Contains(offered, c) {
			return c
		}
	}
	return codecRaw
}
