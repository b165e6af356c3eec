// Package compress links the zstd and gzip codecs into a program, for the
// bootstrap's uploads (spawn.Start and every method built on it) and for
// binaries fetched between hops (docs/via.md). Without it those bytes
// travel uncompressed.
//
// # Usage
//
// Every method package that uploads binaries (spawn/command, spawn/ssh,
// spawn/docker, spawn/kube, spawn/sudo) imports it already. Import it for
// its side effect only in a program that calls spawn.Start with a
// runner.Target of its own:
//
//	import _ "github.com/spindle-go/spindle/spawn/compress"
//
// It is a package of its own so that a program that starts only local
// contexts (spawn.Local), and therefore every child of such a program,
// neither links github.com/klauspost/compress nor runs its package
// initialisers (docs/spawn.md, "Compression").
package compress

import (
	"github.com/spindle-go/spindle/spawn/internal/boot"
	"github.com/spindle-go/spindle/spawn/internal/codec"
)

func init() {
	boot.RegisterCodec("zstd", boot.Codec{Encode: codec.EncodeZstd, NewReader: codec.NewZstdReader})
	boot.RegisterCodec("gzip", boot.Codec{Encode: codec.EncodeGzip, NewReader: codec.NewGzipReader})
}
