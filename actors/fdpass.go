package actors

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"

	lnk "github.com/spindle-go/spindle/actors/internal/link"
	"github.com/spindle-go/spindle/wire"
)

// ErrNoFDPassing is the sentinel behind a message with descriptors sent
// toward a context whose link cannot carry them: pipes, SSH, TCP, a
// container's stdio. Only a local child started with spawn.SocketPair (or
// any link over a unix socket on both sides) can.
var ErrNoFDPassing = lnk.ErrNoFDPassing

// ErrFDTruncated is the reason (inside a *ProtocolError) of a link closed
// because the kernel cut the descriptors of a received message (MSG_CTRUNC):
// the descriptors that did arrive are closed, since the frame that carries
// them can no longer be trusted to get them all.
var ErrFDTruncated = lnk.ErrFDTruncated

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
