package workload

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Environment of a child process started by the harness.
const (
	// RoleEnv names the part a child plays when it is not a Spindle
	// context.
	RoleEnv = "SPINDLE_BENCH_ROLE"
	// LinkEnv is "pipes" (the link is descriptors 3 and 4) or "sock" (one
	// socket on 3).
	LinkEnv = "SPINDLE_BENCH_LINK"
)

// Roles of the floor's child processes.
const (
	RoleFirstByte = "floor-first-byte" // write one byte on stdout and exit
	RoleFloorEcho = "floor-echo"       // write back what arrives, until EOF
	RoleFloorSink = "floor-sink"       // count records, answer one byte per batch
)

// FloorMsg is the size of the floor's small message.
const FloorMsg = 64

// RunRole plays role, if it is one of the floor's, and returns the exit
// code; ok is false for any other role.
func RunRole(role string) (code int, ok bool) {
	switch role {
	case RoleFirstByte:
		_, _ = os.Stdout.Write([]byte{1})
		return 0, true
	case RoleFloorEcho:
		return floorEcho(), true
	case RoleFloorSink:
		return floorSink(), true
	}
	return 0, false
}

// childLink opens the link a floor child inherited. The descriptors are
// blocking, so reads and writes are plain system calls.
func childLink() (r, w *os.File) {
	r = os.NewFile(3, "link-r")
	if os.Getenv(LinkEnv) == "sock" {
		return r, r
	}
	return r, os.NewFile(4, "link-w")
}

// floorEcho writes back whatever it reads until EOF.
func floorEcho() int {
	r, w := childLink()
	buf := make([]byte, BulkBytes)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return 1
			}
		}
		if err != nil {
			return 0
		}
	}
}

// floorSink reads a count (8 bytes, big-endian), then that many records,
// and answers one byte; until EOF.
func floorSink() int {
	r, w := childLink()
	buf := make([]byte, 64<<10)
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return 0
		}
		left := int64(binary.BigEndian.Uint64(head[:])) * FloorMsg
		for left > 0 {
			c := buf
			if left < int64(len(c)) {
				c = c[:left]
			}
			n, err := r.Read(c)
			if err != nil {
				fmt.Fprintln(os.Stderr, "floor sink:", err)
				return 1
			}
			left -= int64(n)
		}
		if _, err := w.Write([]byte{1}); err != nil {
			return 1
		}
	}
}
