package transfer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spindle-go/spindle/wire"
)

// File error codes, as they travel in fileResult and fileHeader.
const (
	codeOther uint8 = iota + 1
	codeNotExist
	codePermission
	codeExist
	codeChecksum
	codePath
	codeIsDir
)

// FileError is a push or pull that failed at the other context, or
// because of what the other context sent. It matches fs.ErrNotExist,
// fs.ErrPermission, fs.ErrExist, ErrChecksum or ErrPath under errors.Is,
// by its code.
type FileError struct {
	Op      string // "push" or "pull"
	Path    string // in the other context
	Context uint32 // the other context
	Code    uint8
	Msg     string
}

func (e *FileError) Error() string {
	return fmt.Sprintf("transfer: %s %s in context %d: %s", e.Op, e.Path, e.Context, e.Msg)
}

// Is matches the sentinel of e's code.
func (e *FileError) Is(target error) bool {
	switch e.Code {
	case codeNotExist:
		return target == fs.ErrNotExist
	case codePermission:
		return target == fs.ErrPermission
	case codeExist:
		return target == fs.ErrExist
	case codeChecksum:
		return target == ErrChecksum
	case codePath:
		return target == ErrPath
	}
	return false
}

func fileCode(err error) uint8 {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return codeNotExist
	case errors.Is(err, fs.ErrPermission):
		return codePermission
	case errors.Is(err, fs.ErrExist):
		return codeExist
	case errors.Is(err, ErrChecksum):
		return codeChecksum
	case errors.Is(err, ErrPath):
		return codePath
	}
	return codeOther
}

// checkPath accepts absolute, clean-enough paths of at most MaxPath bytes.
func checkPath(p string) error {
	switch {
	case p == "" || len(p) > MaxPath:
		return fmt.Errorf("%w: %d bytes, want 1..%d", ErrPath, len(p), MaxPath)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("%w: NUL byte", ErrPath)
	case !filepath.IsAbs(p):
		return fmt.Errorf("%w: %q is not absolute", ErrPath, p)
	}
	return nil
}

// servePush is the handler of pushes to this context.
func (t *Transfer) servePush(ctx context.Context, s *Stream) error {
	var req pushRequest
	if err := readHeader(s, &req); err != nil {
		return err
	}
	res, err := t.receiveFile(s, req)
	out := fileResult{Size: res.Size, SHA256: res.SHA256[:]}
	if err != nil {
		out = fileResult{Code: fileCode(err), Err: err.Error()}
		t.log.Info("transfer: push refused", "path", req.Path, "from", s.Peer(), "err", err)
	}
	return writeHeader(s, &out)
}

func (t *Transfer) receiveFile(s *Stream, req pushRequest) (Result, error) {
	if err := checkPath(req.Path); err != nil {
		return Result{}, err
	}
	return writeAtomic(req.Path, fs.FileMode(req.Mode).Perm(), func(w io.Writer) (Result, error) {
		return receiveBlocks(s, w, req.Size, nil) // the caller reports progress
	})
}

// writeAtomic writes path through a temporary file in its directory:
// fill, then chmod, fsync, rename over path and fsync the directory. On
// any failure the temporary file is removed and path is untouched.
func writeAtomic(path string, mode fs.FileMode, fill func(io.Writer) (Result, error)) (res Result, err error) {
	dir, base := filepath.Split(path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return Result{}, fmt.Errorf("%s is a directory", path)
	}
	f, err := os.CreateTemp(dir, "."+base+".spindle-*")
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if res, err = fill(f); err != nil {
		return res, err
	}
	if err = f.Chmod(mode); err != nil {
		return res, err
	}
	if err = f.Sync(); err != nil {
		return res, err
	}
	if err = f.Close(); err != nil {
		return res, err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return res, err
	}
	syncDir(dir)
	return res, nil
}

// syncDir makes a rename in dir durable (best effort: some file systems
// cannot sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(filepath.Clean(dir + "/.")); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// servePull is the handler of pulls from this context.
func (t *Transfer) servePull(ctx context.Context, s *Stream) error {
	var req pullRequest
	if err := readHeader(s, &req); err != nil {
		return err
	}
	f, st, err := openRegular(req.Path)
	if err != nil {
		return writeHeader(s, &fileHeader{Code: fileCode(err), Err: err.Error()})
	}
	defer f.Close()
	_, err = sendFile(s, &fileHeader{Mode: uint32(st.Mode().Perm()), Size: st.Size()}, f, st.Size(), nil) // the caller reports progress
	return err
}

func openRegular(path string) (*os.File, fs.FileInfo, error) {
	if err := checkPath(path); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// Pull copies the file path of context target to w, and checks its
// SHA-256 at the end: on ErrChecksum, w already got the bad bytes (use
// PullFile for an atomic local copy). The target must allow this context
// to read files (Config.AllowFiles, ancestors by default).
func (t *Transfer) Pull(ctx context.Context, target uint32, path string, w io.Writer, o *FileOptions) (Result, error) {
	res, _, err := t.pull(ctx, target, path, o, func(s *Stream, h fileHeader, k *tracker) (Result, error) {
		return receiveBlocks(s, w, h.Size, k)
	})
	return res, err
}

// PullFile copies the file path of context target to the local file
// local, atomically as Push does at its destination, with the remote
// file's mode unless o.Mode says otherwise.
func (t *Transfer) PullFile(ctx context.Context, target uint32, path, local string, o *FileOptions) (Result, error) {
	if !filepath.IsAbs(local) {
		abs, err := filepath.Abs(local)
		if err != nil {
			return Result{}, fmt.Errorf("transfer: pull to %s: %w", local, err)
		}
		local = abs
	}
	res, _, err := t.pull(ctx, target, path, o, func(s *Stream, h fileHeader, k *tracker) (Result, error) {
		return writeAtomic(local, o.mode(fs.FileMode(h.Mode)), func(w io.Writer) (Result, error) {
			return receiveBlocks(s, w, h.Size, k)
		})
	})
	return res, err
}

func (t *Transfer) pull(ctx context.Context, target uint32, path string, o *FileOptions,
	recv func(*Stream, fileHeader, *tracker) (Result, error)) (Result, fileHeader, error) {
	fail := func(err error) (Result, fileHeader, error) {
		return Result{}, fileHeader{}, fmt.Errorf("transfer: pull %s from context %d: %w", path, target, err)
	}
	if err := checkPath(path); err != nil {
		return Result{}, fileHeader{}, &FileError{Op: "pull", Path: path, Context: target, Code: codePath, Msg: err.Error()}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := t.Open(ctx, target, pullName)
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	if err := writeHeader(s, &pullRequest{Path: path}); err != nil {
		return fail(err)
	}
	if err := s.CloseWrite(); err != nil {
		return fail(err)
	}
	var h fileHeader
	if err := readHeader(s, &h); err != nil {
		return fail(err)
	}
	if h.Code != 0 {
		return Result{}, h, &FileError{Op: "pull", Path: path, Context: target, Code: h.Code, Msg: h.Err}
	}
	k := t.track("pull", target, path, h.Size, o)
	res, err := recv(s, h, k)
	k.end(err)
	if err != nil {
		if errors.Is(err, ErrChecksum) {
			return res, h, &FileError{Op: "pull", Path: path, Context: target, Code: codeChecksum, Msg: err.Error()}
		}
		return fail(err)
	}
	return res, h, nil
}

// writeHeader writes v as msgpack behind its u32 length.
func writeHeader(s *Stream, v any) error {
	b, err := wire.Marshal(v)
	if err != nil {
		return err
	}
	out := make([]byte, 4, 4+len(b))
	putU32(out, uint32(len(b)))
	_, err = s.Write(append(out, b...))
	return err
}

// readHeader reads a header written by writeHeader into v.
func readHeader(s *Stream, v any) error {
	n, err := readU32(s)
	if err != nil {
		return unexpected(err)
	}
	if n == 0 || n > maxHeader {
		return fmt.Errorf("%w: header of %d bytes", ErrProtocol, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s, b); err != nil {
		return unexpected(err)
	}
	if err := wire.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: header: %v", ErrProtocol, err)
	}
	return nil
}

func putU32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

func readU32(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}
