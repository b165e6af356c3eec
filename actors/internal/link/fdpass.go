package link

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/spindle-go/spindle/wire"
)

// File descriptors travel with the frame that carries them: the sender
// passes a frame's descriptors in the SCM_RIGHTS ancillary data of one
// sendmsg whose bytes start with the frame's first byte. Linux attaches
// them to that first socket buffer, and a recvmsg that reaches it returns
// them and stops there, so the reader holds a frame's descriptors by the
// time it holds the frame's first byte, and never more than one frame's
// descriptors per read. The reader queues what each read brought with the
// stream range the read covered; a frame with FlagFDs claims the batch whose
// range holds its first byte, and a batch that no frame claims is an error.

// ErrNoFDPassing is the sentinel behind a message with descriptors sent
// toward a context whose link cannot carry them: pipes, SSH, TCP, a
// container's stdio. Only a local child started with spawn.SocketPair (or
// any link over a unix socket on both sides) can.
var ErrNoFDPassing = errors.New("actors: link cannot carry file descriptors")

// ErrFDTruncated is the reason (inside a *ProtocolError) of a link closed
// because the kernel cut the descriptors of a received message (MSG_CTRUNC):
// the descriptors that did arrive are closed, since the frame that carries
// them can no longer be trusted to get them all.
var ErrFDTruncated = errors.New("actors: received descriptors were truncated (MSG_CTRUNC)")

// MaxFDFrame is the largest frame that may carry descriptors: one that is
// never cut into chunks, so its descriptors ride with a single frame.
const MaxFDFrame = wire.DefaultChunkSize + wire.HeaderSize

// maxPendingFDs bounds the descriptors a link's reader holds that no frame
// has claimed yet. A well-behaved peer keeps at most a frame or two ahead.
const maxPendingFDs = 4 * wire.MaxFDs

// fdBatch is what one read brought: descriptors and the stream range
// [from, to) of the bytes read with them.
type fdBatch struct {
	from, to int64
	fds      []int
}

// fdReader reads a unix stream socket with recvmsg and keeps the
// descriptors that arrive, in order, for the frames that claim them. It is
// owned by the link's reader goroutine (and, before it, the handshake).
type fdReader struct {
	c       *net.UnixConn
	oob     []byte
	off     int64 // stream bytes returned so far
	q       []fdBatch
	pending int // descriptors in q
}

func newFDReader(c *net.UnixConn) *fdReader {
	return &fdReader{c: c, oob: make([]byte, syscall.CmsgSpace(wire.MaxFDs*4))}
}

// Read reads like the socket's Read; descriptors that arrive are queued,
// close-on-exec (readMsg, per platform).
func (r *fdReader) Read(p []byte) (int, error) {
	n, oobn, flags, err := readMsg(r.c, p, r.oob)
	n, oobn = max(n, 0), max(oobn, 0) // -1 on some errors
	if oobn > 0 {
		fds, perr := parseRights(r.oob[:oobn])
		switch {
		case flags&syscall.MSG_CTRUNC != 0:
			CloseFDs(fds)
			return n, ErrFDTruncated
		case perr != nil:
			CloseFDs(fds)
			return n, perr
		case len(fds) > 0 && r.pending+len(fds) > maxPendingFDs:
			CloseFDs(fds)
			return n, fmt.Errorf("actors: peer sent more than %d descriptors that no frame claims", maxPendingFDs)
		case len(fds) > 0:
			r.q = append(r.q, fdBatch{from: r.off, to: r.off + int64(n), fds: fds})
			r.pending += len(fds)
		}
	} else if flags&syscall.MSG_CTRUNC != 0 {
		return n, ErrFDTruncated
	}
	r.off += int64(n)
	return n, err
}

// claim returns the descriptors that came with frame f, which starts at
// stream offset start. Batches that arrived wholly before f belonged to no
// frame: that, a frame claiming descriptors that did not come with it, or
// a count that differs from the batch's, is an error.
func (r *fdReader) claim(f wire.Frame, start int64) ([]int, error) {
	n, err := wire.FrameFDs(f)
	if err != nil {
		return nil, err
	}
	if len(r.q) > 0 && r.q[0].to <= start {
		return nil, fmt.Errorf("actors: %d descriptors arrived with no frame to carry them", len(r.q[0].fds))
	}
	if n == 0 {
		return nil, nil
	}
	if len(r.q) == 0 || r.q[0].from > start {
		return nil, fmt.Errorf("actors: frame claims %d descriptors that did not come with it", n)
	}
	b := r.q[0]
	if len(b.fds) != n {
		return nil, fmt.Errorf("actors: frame claims %d descriptors, %d came with it", n, len(b.fds))
	}
	r.q[0] = fdBatch{}
	r.q = r.q[1:]
	r.pending -= n
	return b.fds, nil
}

// discard closes every descriptor still queued.
func (r *fdReader) discard() {
	for _, b := range r.q {
		CloseFDs(b.fds)
	}
	r.q, r.pending = nil, 0
}

// unixConnOf returns the unix socket under t when t reads and writes one
// (and so can carry descriptors), or nil.
func unixConnOf(t Transport) *net.UnixConn {
	uc, ok := t.R.(*net.UnixConn)
	if !ok {
		return nil
	}
	if w, ok := t.W.(*net.UnixConn); !ok || w != uc {
		return nil
	}
	return uc
}

// CloseFDs closes every descriptor of fds that is not negative.
func CloseFDs(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// writeFDs writes one frame with its descriptors on a unix socket and
// closes this side's duplicates: once sendmsg returns they are in flight
// (or refused). A sendmsg that writes only part of the frame sends the
// descriptors with that part; the rest follows as plain bytes.
func writeFDs(c *net.UnixConn, frame []byte, fds []int) error {
	n, _, err := c.WriteMsgUnix(frame, syscall.UnixRights(fds...), nil)
	CloseFDs(fds)
	if err != nil {
		return err
	}
	if n < len(frame) {
		_, err = c.Write(frame[n:])
	}
	return err
}
