package spawn_test

// Descriptors handed to an actor in a real child process over a
// socketpair link.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/fdcount"
	"github.com/spindle-go/spindle/spawn"
)

type (
	// HandFile asks the child to write Text into File and close it.
	HandFile struct {
		File *os.File
		Text string
	}
	// HandListener asks the child to accept one connection from L, write
	// its process ID into it, and close both.
	HandListener struct{ L net.Listener }
	// FDReport answers both: the child's process ID, whether the received
	// descriptor was close-on-exec, and its open descriptors afterwards.
	FDReport struct {
		Pid     int
		Cloexec bool
		Open    int
		Err     string
	}
	CountFDs struct{}
)

func fdpassSetup(n *actors.Node) error {
	for _, err := range []error{
		actors.RegisterType[HandFile](n, "test.HandFile"),
		actors.RegisterType[HandListener](n, "test.HandListener"),
		actors.RegisterType[FDReport](n, "test.FDReport"),
		actors.RegisterType[CountFDs](n, "test.CountFDs"),
	} {
		if err != nil {
			return err
		}
	}
	n.RegisterKind("fdworker", actor.PropsFromFunc(fdWorker))
	return nil
}

func fdWorker(c actor.Context) {
	switch m := c.Message().(type) {
	case *HandFile:
		r := &FDReport{Pid: os.Getpid(), Cloexec: isCloexec(m.File)}
		if _, err := m.File.WriteString(m.Text); err != nil {
			r.Err = err.Error()
		}
		_ = m.File.Close()
		r.Open = openCount()
		c.Respond(r)
	case *HandListener:
		r := &FDReport{Pid: os.Getpid()}
		if tl, ok := m.L.(*net.TCPListener); ok {
			r.Cloexec = isCloexec(tl)
			_ = tl.SetDeadline(time.Now().Add(10 * time.Second))
		}
		if conn, err := m.L.Accept(); err != nil {
			r.Err = err.Error()
		} else {
			fmt.Fprintf(conn, "pid %d", os.Getpid())
			_ = conn.Close()
		}
		_ = m.L.Close()
		r.Open = openCount()
		c.Respond(r)
	case *CountFDs:
		c.Respond(&FDReport{Pid: os.Getpid(), Open: openCount()})
	}
}

func isCloexec(sc interface {
	SyscallConn() (syscall.RawConn, error)
}) bool {
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var flags int
	_ = rc.Control(func(fd uintptr) { flags, _ = unix.FcntlInt(fd, unix.F_GETFD, 0) })
	return flags&unix.FD_CLOEXEC != 0
}

// TestLocal_FDPassing hands a pipe and a TCP listener to an actor in a
// child process, which uses them and closes them; nothing stays open on
// either side.
func TestLocal_FDPassing(t *testing.T) {
	root := newRoot(t, nil)
	ctx := testCtx(t, 20*time.Second)
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "fd", Grace: time.Second}, Link: spawn.SocketPair})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Spawn(ctx, "fdworker", "fdw")
	if err != nil {
		t.Fatal(err)
	}
	before, err := actors.Request[*FDReport](ctx, root, w, &CountFDs{})
	if err != nil {
		t.Fatal(err)
	}
	base := openCount()

	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := actors.Request[*FDReport](ctx, root, w, &HandFile{File: pw, Text: "written by the child"})
	_ = pw.Close()
	if err != nil || rep.Err != "" {
		t.Fatalf("HandFile: %v %+v", err, rep)
	}
	if rep.Pid != c.Pid() || !rep.Cloexec {
		t.Fatalf("report %+v: want pid %d and close-on-exec", rep, c.Pid())
	}
	if rep.Open != before.Open {
		t.Errorf("child has %d descriptors open after closing the file, %d before", rep.Open, before.Open)
	}
	got, err := io.ReadAll(r) // EOF only once every copy of the write end is closed
	_ = r.Close()
	if err != nil || string(got) != "written by the child" {
		t.Fatalf("read %q, %v", got, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	done := make(chan error, 1)
	go func() {
		rep, err := actors.Request[*FDReport](ctx, root, w, &HandListener{L: ln})
		if err == nil && rep.Err != "" {
			err = errors.New(rep.Err)
		}
		if err == nil && (!rep.Cloexec || rep.Open != before.Open) {
			err = fmt.Errorf("report %+v, want close-on-exec and %d open", rep, before.Open)
		}
		done <- err
	}()
	// The parent never accepts: the connection can only be the child's.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial the listener now held by the child: %v", err)
	}
	b, _ := io.ReadAll(conn)
	_ = conn.Close()
	if string(b) != fmt.Sprintf("pid %d", c.Pid()) {
		t.Fatalf("served %q, want the child's pid %d", b, c.Pid())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	if n := openCount(); n != base {
		t.Fatalf("parent has %d descriptors open, %d before", n, base)
	}
}

// TestLocal_FDPassingNeedsSocketPair: over pipes the send fails at the
// sender with a typed error.
func TestLocal_FDPassingNeedsSocketPair(t *testing.T) {
	root := newRoot(t, nil)
	ctx := testCtx(t, 20*time.Second)
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "piped", Grace: time.Second}, Link: spawn.Pipes})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Spawn(ctx, "fdworker", "fdw")
	if err != nil {
		t.Fatal(err)
	}
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	_, err = actors.Request[*FDReport](ctx, root, w, &HandFile{File: pw})
	var fe *actors.FDError
	if !errors.As(err, &fe) || !errors.Is(err, actors.ErrNoFDPassing) {
		t.Fatalf("Request over pipes = %v, want *FDError wrapping ErrNoFDPassing", err)
	}
}

// TestLocal_SocketPairDeathWithUnreadFrames: a child killed with frames
// still unread in its socket makes the parent's read fail with
// ECONNRESET; the death is still reported by exit status, not as a
// protocol error.
func TestLocal_SocketPairDeathWithUnreadFrames(t *testing.T) {
	root := newRoot(t, nil)
	c, pid := startChild(t, root, "unread", spawn.SocketPair)
	if err := syscall.Kill(c.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		_ = root.Send(pid, &Ping{N: i})
	}
	time.Sleep(20 * time.Millisecond) // let the writer put them in the socket
	if err := syscall.Kill(c.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Dead():
	case <-time.After(10 * time.Second):
		t.Fatal("child not declared dead")
	}
	var pe *actors.ProtocolError
	if reason := c.DeadReason(); errors.As(reason, &pe) || !strings.Contains(reason.Error(), "SIGKILL") {
		t.Fatalf("DeadReason = %v, want the exit status (killed by SIGKILL)", reason)
	}
}

// openCount is fdcount.Count for the child side, where there is no test
// to fail (-1 on an error, which no check accepts).
func openCount() int {
	n, err := fdcount.Count()
	if err != nil {
		return -1
	}
	return n
}
