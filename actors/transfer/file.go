package transfer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/spindle-go/spindle/internal/progress"
)

// The file protocol, over a stream (see docs/calls.md, "Files and
// streams"): a push sends a header (pushRequest), the data in blocks
// (u32 length, then the bytes; a zero length ends them), the SHA-256 of the
// data, and CloseWrite; the destination answers a fileResult. A pull sends
// a pullRequest; the source answers a fileHeader, the blocks and the sum.
// Headers are msgpack behind a u32 length.
const (
	pushName = reservedPrefix + "push"
	pullName = reservedPrefix + "pull"

	blockSize = 256 << 10 // data bytes per block sent
	maxBlock  = 1 << 20   // largest block accepted
	maxHeader = 16 << 10  // largest header accepted
	// MaxPath is the longest path, in bytes, a push or pull accepts.
	MaxPath = 4096
)

// ErrChecksum: the data that arrived does not have the SHA-256 the sender
// computed; nothing was written at the destination path.
var ErrChecksum = errors.New("transfer: checksum mismatch")

// ErrPath: a path that is empty, relative, longer than MaxPath or holds a
// NUL byte.
var ErrPath = errors.New("transfer: invalid path")

// Result describes the file that was moved.
type Result struct {
	Size   int64    // bytes
	SHA256 [32]byte // of the bytes
}

// FileOptions are the optional settings of a push or pull. A nil
// *FileOptions means the defaults.
type FileOptions struct {
	// Mode is the permission bits of the file written. Default: the
	// source file's mode (PushFile, PullFile), 0o644 for Push.
	Mode fs.FileMode
	// Progress, if set, is called on the caller's goroutine after each
	// block (256 KiB) sent or received, with the bytes done and the total
	// (-1 when not known). Whether set or not, the transfer is logged on
	// Config.Logger at a bounded rate, as every Spindle transfer is
	// (docs/observability.md, "Upload progress").
	Progress func(done, total int64)
}

// tracker reports one file transfer on the side that asked for it: to
// FileOptions.Progress, and at a bounded rate to the logger
// (internal/progress: the records every Spindle transfer writes). A nil
// *tracker reports nothing (the serving side).
type tracker struct {
	fn func(done, total int64)
	m  *progress.Meter
}

func (t *Transfer) track(op string, target uint32, path string, total int64, o *FileOptions) *tracker {
	k := &tracker{m: progress.Start(t.cfg.Logger, progress.Spec{Op: op, Target: "context " + strconv.FormatUint(uint64(target), 10),
		Total: total, Attrs: []any{"path", path}})}
	if o != nil {
		k.fn = o.Progress
	}
	return k
}

func (k *tracker) progress(done, total int64) {
	if k == nil {
		return
	}
	k.m.Update(done)
	if k.fn != nil {
		k.fn(done, total)
	}
}

func (k *tracker) end(err error) {
	if k != nil {
		k.m.End(err)
	}
}

func (o *FileOptions) mode(def fs.FileMode) fs.FileMode {
	if o != nil && o.Mode != 0 {
		return o.Mode.Perm()
	}
	return def.Perm()
}

type pushRequest struct {
	Path string
	Mode uint32
	Size int64 // -1: not known
}

type pullRequest struct {
	Path string
}

// fileHeader answers a pull: the file's mode and size, or why not.
type fileHeader struct {
	Mode uint32
	Size int64
	Code uint8  `msgpack:",omitempty"`
	Err  string `msgpack:",omitempty"`
}

// fileResult answers a push.
type fileResult struct {
	Size   int64
	SHA256 []byte
	Code   uint8  `msgpack:",omitempty"`
	Err    string `msgpack:",omitempty"`
}

// Push writes what r yields to path in context target: atomically (a
// temporary file in the same directory, checked against the SHA-256 of
// the data, given its mode, synced and renamed over path), so path holds
// either its old content or all of the new. The target must allow this
// context to write files (Config.AllowFiles, ancestors by default). A
// failure at the destination is a *FileError (errors.Is fs.ErrPermission,
// fs.ErrNotExist, ErrChecksum, ...); memory stays within a block and the
// stream's window on both sides, whatever the size.
func (t *Transfer) Push(ctx context.Context, target uint32, r io.Reader, path string, o *FileOptions) (Result, error) {
	return t.push(ctx, target, r, -1, path, o.mode(0o644), o)
}

// PushFile is Push of the local file src, with src's mode unless o.Mode
// says otherwise.
func (t *Transfer) PushFile(ctx context.Context, target uint32, src, path string, o *FileOptions) (Result, error) {
	f, err := os.Open(src)
	if err != nil {
		return Result{}, fmt.Errorf("transfer: push: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Result{}, fmt.Errorf("transfer: push: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Result{}, fmt.Errorf("transfer: push %s: not a regular file", src)
	}
	return t.push(ctx, target, f, st.Size(), path, o.mode(st.Mode()), o)
}

func (t *Transfer) push(ctx context.Context, target uint32, r io.Reader, size int64, path string,
	mode fs.FileMode, o *FileOptions) (_ Result, err error) {
	if err := checkPath(path); err != nil {
		return Result{}, &FileError{Op: "push", Path: path, Context: target, Code: codePath, Msg: err.Error()}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := t.Open(ctx, target, pushName)
	if err != nil {
		return Result{}, fmt.Errorf("transfer: push %s to context %d: %w", path, target, err)
	}
	defer s.Close()
	k := t.track("push", target, path, size, o)
	defer func() { k.end(err) }()
	sent, sendErr := sendFile(s, pushRequest{Path: path, Mode: uint32(mode), Size: size}, r, size, k)
	if sendErr == nil {
		sendErr = s.CloseWrite()
	}
	var res fileResult
	if err := readHeader(s, &res); err != nil {
		if sendErr != nil {
			return Result{}, fmt.Errorf("transfer: push %s to context %d: %w", path, target, sendErr)
		}
		return Result{}, fmt.Errorf("transfer: push %s to context %d: %w", path, target, err)
	}
	if res.Code != 0 {
		return Result{}, &FileError{Op: "push", Path: path, Context: target, Code: res.Code, Msg: res.Err}
	}
	if sendErr != nil {
		return Result{}, fmt.Errorf("transfer: push %s to context %d: %w", path, target, sendErr)
	}
	out := Result{Size: res.Size}
	copy(out.SHA256[:], res.SHA256)
	if out.Size != sent.Size || out.SHA256 != sent.SHA256 {
		return out, &FileError{Op: "push", Path: path, Context: target, Code: codeChecksum, Msg: "the destination reports other data"}
	}
	return out, nil
}

// sendFile writes the header h, then r's bytes in blocks and their sum.
func sendFile(s *Stream, h any, r io.Reader, total int64, o *tracker) (Result, error) {
	if err := writeHeader(s, h); err != nil {
		return Result{}, err
	}
	sum := sha256.New()
	buf := make([]byte, 4+blockSize)
	var done int64
	for {
		n, err := io.ReadFull(r, buf[4:])
		if n > 0 {
			putU32(buf, uint32(n))
			sum.Write(buf[4 : 4+n])
			if _, werr := s.Write(buf[:4+n]); werr != nil {
				return Result{}, werr
			}
			done += int64(n)
			o.progress(done, total)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return Result{}, fmt.Errorf("reading the source: %w", err)
		}
	}
	putU32(buf, 0)
	res := Result{Size: done}
	sum.Sum(res.SHA256[:0])
	copy(buf[4:], res.SHA256[:])
	if _, err := s.Write(buf[:4+sha256.Size]); err != nil {
		return Result{}, err
	}
	return res, nil
}

// receiveBlocks copies the blocks of a file from s to w, and checks their
// sum (and the size, when known).
func receiveBlocks(s *Stream, w io.Writer, total int64, o *tracker) (Result, error) {
	sum := sha256.New()
	buf := make([]byte, maxBlock)
	var done int64
	for {
		n, err := readU32(s)
		if err != nil {
			return Result{}, err
		}
		if n == 0 {
			break
		}
		if n > maxBlock {
			return Result{}, fmt.Errorf("%w: block of %d bytes", ErrProtocol, n)
		}
		if _, err := io.ReadFull(s, buf[:n]); err != nil {
			return Result{}, unexpected(err)
		}
		sum.Write(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return Result{}, err
		}
		done += int64(n)
		o.progress(done, total)
	}
	return finishSum(s, sum, done, total)
}

func finishSum(s *Stream, sum hash.Hash, done, total int64) (Result, error) {
	var want [sha256.Size]byte
	if _, err := io.ReadFull(s, want[:]); err != nil {
		return Result{}, unexpected(err)
	}
	res := Result{Size: done}
	sum.Sum(res.SHA256[:0])
	if res.SHA256 != want || (total >= 0 && done != total) {
		return res, fmt.Errorf("%w: %d bytes, sha256 %x, the sender sent %x", ErrChecksum, done, res.SHA256, want)
	}
	return res, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the stream ended early", ErrProtocol)
	}
	return err
}
