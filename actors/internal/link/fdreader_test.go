package link

// White-box tests of the fdReader: what the kernel hands a recvmsg, and
// how descriptors are bound to frames by stream offset.

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/spindle-go/spindle/internal/fdcount"
	"github.com/spindle-go/spindle/internal/platform"
	"github.com/spindle-go/spindle/wire"
)

func unixConns(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fd0, fd1, err := platform.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sp")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	a, b := conn(fd0), conn(fd1)
	t.Cleanup(func() { _, _ = a.Close(), b.Close() })
	return a, b
}

// TestFDReader_CtruncClosesWhatArrived: a control buffer too small for the
// descriptors sent makes the kernel cut them (MSG_CTRUNC); the reader
// reports ErrFDTruncated and closes those that did arrive.
func TestFDReader_CtruncClosesWhatArrived(t *testing.T) {
	a, b := unixConns(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fr := newFDReader(b)
	fr.oob = make([]byte, syscall.CmsgSpace(4)) // room for one descriptor
	base := fdcount.Open(t)
	fds := []int{int(r.Fd()), int(w.Fd()), int(r.Fd())}
	if _, _, err := a.WriteMsgUnix([]byte("x"), syscall.UnixRights(fds...), nil); err != nil {
		t.Fatal(err)
	}
	_, err = fr.Read(make([]byte, 16))
	if !errors.Is(err, ErrFDTruncated) {
		t.Fatalf("Read = %v, want ErrFDTruncated", err)
	}
	if got := fdcount.Open(t); got != base {
		t.Fatalf("open descriptors %d after a truncated receive, want %d", got, base)
	}
	if len(fr.q) != 0 {
		t.Fatalf("queued %v", fr.q)
	}
}

// TestFDReader_OneBatchPerRead: two frames with descriptors written back to
// back arrive in separate reads, each batch covering its frame's first
// byte, and received descriptors are close-on-exec.
func TestFDReader_OneBatchPerRead(t *testing.T) {
	a, b := unixConns(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	frame := func(n int) []byte {
		return wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Flags: wire.FlagFDs},
			nil, append(wire.AppendEnvelopeHead(nil, wire.Envelope{FDs: n, Target: "t", Type: "T"}), 0xc0))
	}
	plain := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindPing}, nil, nil)
	f1, f2 := frame(1), frame(2)
	if _, err := a.Write(plain); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.WriteMsgUnix(f1, syscall.UnixRights(int(r.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.WriteMsgUnix(f2, syscall.UnixRights(int(r.Fd()), int(w.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	fr := newFDReader(b)
	rd := wire.NewReader(fr, 0)
	var claimed [][]int
	for range 3 {
		start := rd.Offset()
		f, err := rd.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		fds, err := fr.claim(f, start)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		claimed = append(claimed, fds)
	}
	if len(claimed[0]) != 0 || len(claimed[1]) != 1 || len(claimed[2]) != 2 {
		t.Fatalf("claimed %v", claimed)
	}
	for _, fds := range claimed {
		for _, fd := range fds {
			flags, err := fcntlGetfd(fd)
			if err != nil || flags&syscall.FD_CLOEXEC == 0 {
				t.Errorf("descriptor %d flags %#x, %v: want close-on-exec", fd, flags, err)
			}
		}
		CloseFDs(fds)
	}
	if fr.pending != 0 || len(fr.q) != 0 {
		t.Fatalf("left %d pending", fr.pending)
	}
}

func fcntlGetfd(fd int) (int, error) {
	v, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(v), nil
}
