// Package codec holds the compressors of binaries, behind package
// spawn/compress, which registers them with the bootstrap (a package of
// its own so that the bootstrap's tests can register them too).
package codec

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// EncodeZstd returns raw compressed with zstd (default level).
func EncodeZstd(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(raw) / 2)
	w, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	return finish(&out, w, raw)
}

// EncodeGzip returns raw compressed with gzip (best speed).
func EncodeGzip(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(raw) / 2)
	w, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	return finish(&out, w, raw)
}

// finish writes raw through w and closes it.
func finish(out *bytes.Buffer, w io.WriteCloser, raw []byte) ([]byte, error) {
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// NewZstdReader returns a reader of r decoded from zstd, single-threaded,
// with at most maxMemory bytes of window.
func NewZstdReader(r io.Reader, maxMemory uint64) (io.ReadCloser, error) {
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxMemory))
	if err != nil {
		return nil, err
	}
	return dec.IOReadCloser(), nil
}

// NewGzipReader returns a reader of r decoded from gzip.
func NewGzipReader(r io.Reader, _ uint64) (io.ReadCloser, error) { return gzip.NewReader(r) }
