package actors

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/asynkron/protoactor-go/actor"
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

// FDError reports a message with file descriptors that could not be sent.
// Err is ErrNoFDPassing, wire.ErrTooManyFDs, or the error of taking a
// descriptor from a value (a closed file, say).
type FDError struct {
	Context uint32     // the destination context
	PID     *actor.PID // the target, when known
	Err     error
}

func (e *FDError) Error() string {
	target := fmt.Sprintf("context %d", e.Context)
	if e.PID != nil {
		target = FormatPID(e.PID)
	}
	return fmt.Sprintf("actors: cannot pass file descriptors to %s: %v", target, e.Err)
}

func (e *FDError) Unwrap() error { return e.Err }

// maxFDFrame is the largest frame that may carry descriptors: one that is
// never cut into chunks, so its descriptors ride with a single frame.
const maxFDFrame = wire.DefaultChunkSize + wire.HeaderSize

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

// Read reads like the socket's Read; descriptors that arrive are queued.
// Net's ReadMsgUnix receives them close-on-exec (MSG_CMSG_CLOEXEC).
func (r *fdReader) Read(p []byte) (int, error) {
	n, oobn, flags, _, err := r.c.ReadMsgUnix(p, r.oob)
	n, oobn = max(n, 0), max(oobn, 0) // -1 on some errors
	if oobn > 0 {
		fds, perr := parseRights(r.oob[:oobn])
		switch {
		case flags&syscall.MSG_CTRUNC != 0:
			closeFDs(fds)
			return n, ErrFDTruncated
		case perr != nil:
			closeFDs(fds)
			return n, perr
		case len(fds) > 0 && r.pending+len(fds) > maxPendingFDs:
			closeFDs(fds)
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

// parseRights returns the descriptors in SCM_RIGHTS control messages. Any
// other control message is an error (after its descriptors, if any, are
// collected so the caller can close them).
func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("actors: bad control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != syscall.SOL_SOCKET || m.Header.Type != syscall.SCM_RIGHTS {
			err = fmt.Errorf("actors: unexpected control message level %d type %d", m.Header.Level, m.Header.Type)
			continue
		}
		got, perr := syscall.ParseUnixRights(&m)
		if perr != nil {
			err = fmt.Errorf("actors: bad SCM_RIGHTS message: %w", perr)
		}
		fds = append(fds, got...)
	}
	return fds, err
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
		closeFDs(b.fds)
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

func closeFDs(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// dupFDs takes a close-on-exec duplicate of the descriptor of each value
// (the values stay the caller's). On an error it closes what it took.
func dupFDs(vals []any) ([]int, error) {
	fds := make([]int, 0, len(vals))
	for _, v := range vals {
		fd, err := dupFD(v)
		if err != nil {
			closeFDs(fds)
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func dupFD(v any) (int, error) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", v)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("%T: %w", v, err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, fmt.Errorf("%T: %w", v, err)
	}
	if derr != nil {
		return -1, fmt.Errorf("%T: dup: %w", v, derr)
	}
	return fd, nil
}

// writeFDs writes one frame with its descriptors on a unix socket and
// closes this side's duplicates: once sendmsg returns they are in flight
// (or refused). A sendmsg that writes only part of the frame sends the
// descriptors with that part; the rest follows as plain bytes.
func writeFDs(c *net.UnixConn, frame []byte, fds []int) error {
	n, _, err := c.WriteMsgUnix(frame, syscall.UnixRights(fds...), nil)
	closeFDs(fds)
	if err != nil {
		return err
	}
	if n < len(frame) {
		_, err = c.Write(frame[n:])
	}
	return err
}

// fdInbox resolves the placeholders of one received message into values
// built from the descriptors that came with its frame. It owns the
// descriptors until a placeholder takes one, and the values it made until
// the message is handed to its actor.
type fdInbox struct {
	fds  []int
	made []io.Closer
}

var _ wire.FDReceiver = (*fdInbox)(nil)

// TakeFD implements wire.FDReceiver.
func (in *fdInbox) TakeFD(i int, kind wire.FDKind, name string) (any, error) {
	if i < 0 || i >= len(in.fds) || in.fds[i] < 0 {
		return nil, fmt.Errorf("%w: index %d of %d, or used twice", wire.ErrBadFD, i, len(in.fds))
	}
	fd := in.fds[i]
	in.fds[i] = -1
	if kind == wire.FDFile {
		f := os.NewFile(uintptr(fd), name)
		in.made = append(in.made, f)
		return f, nil
	}
	f := os.NewFile(uintptr(fd), "")
	defer f.Close() // net dups it
	var v io.Closer
	var err error
	switch kind {
	case wire.FDTCPListener, wire.FDUnixListener:
		v, err = net.FileListener(f)
	case wire.FDTCPConn, wire.FDUnixConn:
		v, err = net.FileConn(f)
	default:
		return nil, fmt.Errorf("%w: kind %s", wire.ErrBadFD, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", wire.ErrBadFD, kind, err)
	}
	ok := false
	switch v.(type) {
	case *net.TCPListener:
		ok = kind == wire.FDTCPListener
	case *net.UnixListener:
		ok = kind == wire.FDUnixListener
	case *net.TCPConn:
		ok = kind == wire.FDTCPConn
	case *net.UnixConn:
		ok = kind == wire.FDUnixConn
	}
	if !ok {
		_ = v.Close()
		return nil, fmt.Errorf("%w: descriptor is a %T, placeholder says %s", wire.ErrBadFD, v, kind)
	}
	in.made = append(in.made, v)
	return v, nil
}

// left returns how many descriptors no placeholder took.
func (in *fdInbox) left() int {
	n := 0
	for _, fd := range in.fds {
		if fd >= 0 {
			n++
		}
	}
	return n
}

// finish closes the descriptors no placeholder took and, unless the
// message is being delivered, the values made from the others.
func (in *fdInbox) finish(deliver bool) {
	closeFDs(in.fds)
	in.fds = nil
	if !deliver {
		for _, c := range in.made {
			_ = c.Close()
		}
	}
	in.made = nil
}
