package command

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/wire"
)

// A command travels over one stream (see docs/calls.md, "Commands") as
// records: type u8 · length u32 · bytes. The caller sends the request,
// then its stdin as data records, then CloseWrite (the command's stdin
// ends); the context that runs it sends stdout and stderr records as the
// output comes, then one exit or start-failure record.
const (
	recRequest     byte = iota + 1 // msgpack request
	recStdin                       // bytes for the command's stdin
	recStdout                      // bytes the command wrote to stdout
	recStderr                      // bytes the command wrote to stderr
	recExit                        // msgpack exitRecord: the command ended
	recStartFailed                 // msgpack startRecord: the command did not start
)

const (
	recHeader = 5
	// maxRecord bounds a record's bytes: output and stdin are sent in
	// pieces of at most outPiece, a request is at most maxRequest.
	maxRecord  = 1 << 20
	outPiece   = 32 << 10
	maxRequest = 256 << 10
)

type request struct {
	Path string
	Args []string
	Env  []string // nil: the context's environment
	Dir  string
}

type exitRecord struct {
	Code   int    // exit status, -1 when a signal ended the command
	Signal string `msgpack:",omitempty"` // "SIGKILL"
}

type startRecord struct {
	Err      string
	NotFound bool `msgpack:",omitempty"`
}

// writeRecord writes one record in one Write, so that records of two
// goroutines (stdout, stderr) never interleave.
func writeRecord(s *transfer.Stream, typ byte, b []byte) error {
	buf := make([]byte, recHeader, recHeader+len(b))
	buf[0] = typ
	binary.BigEndian.PutUint32(buf[1:], uint32(len(b)))
	_, err := s.Write(append(buf, b...))
	return err
}

func writeValue(s *transfer.Stream, typ byte, v any) error {
	b, err := wire.Marshal(v)
	if err != nil {
		return err
	}
	return writeRecord(s, typ, b)
}

// readRecord reads one record into buf (grown as needed, up to max).
func readRecord(r io.Reader, buf []byte, max int) (byte, []byte, error) {
	var h [recHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(h[1:]))
	if n > max {
		return 0, nil, fmt.Errorf("%w: record of %d bytes (at most %d)", ErrProtocol, n, max)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return h[0], buf, nil
}
