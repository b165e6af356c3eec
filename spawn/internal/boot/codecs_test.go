package boot

import "github.com/spindle-go/spindle/spawn/internal/codec"

// The bootstrap's tests upload compressed, as a program that links
// spawn/compress does (which cannot be imported here: it imports boot).
func init() {
	RegisterCodec(codecZstd, Codec{Encode: codec.EncodeZstd, NewReader: codec.NewZstdReader})
	RegisterCodec(codecGzip, Codec{Encode: codec.EncodeGzip, NewReader: codec.NewGzipReader})
}
