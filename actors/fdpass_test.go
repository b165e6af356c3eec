package actors_test

// File descriptor passing between contexts joined by a unix socketpair,
// with real descriptors: pipes, TCP and unix listeners and connections.
// Every test counts the process's open descriptors before and after.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/fdcount"
	"github.com/spindle-go/spindle/internal/platform"
	"github.com/spindle-go/spindle/wire"
)

// FDMsg carries descriptors in every shape the API allows: typed fields,
// interface fields and a slice.
type (
	FDMsg struct {
		Tag   string
		File  *os.File
		L     net.Listener
		C     net.Conn
		Any   any
		Files []*os.File
		Big   []byte
	}
	FDAck struct{ Tag string }
)

func fdSetup(n *actors.Node) error {
	if err := actors.RegisterType[FDMsg](n, "test.FDMsg"); err != nil {
		return err
	}
	return actors.RegisterType[FDAck](n, "test.FDAck")
}

// fdSink registers the kind "fdsink", which hands every FDMsg it gets to
// the test and answers FDAck.
func fdSink(got chan<- *FDMsg) func(*actors.Node) error {
	return func(n *actors.Node) error {
		n.RegisterKind("fdsink", fdSinkProps(got))
		return nil
	}
}

func fdSinkProps(got chan<- *FDMsg) *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*FDMsg); ok {
			got <- m
			c.Respond(&FDAck{Tag: m.Tag})
		}
	})
}

// unixPair joins parent and child with an AF_UNIX socketpair, as
// spawn.SocketPair does.
func unixPair(t testing.TB) (parent, child actors.Transport) {
	fd0, fd1, err := platform.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	return connTransport(fileConn(t, fd0)), connTransport(fileConn(t, fd1))
}

func fileConn(t testing.TB, fd int) *net.UnixConn {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn)
}

// fdPair is a root and a child joined by a socketpair, with a sink actor in
// the child.
type fdPair struct {
	root *actors.Node
	kid  *child
	sink *actor.PID
	got  chan *FDMsg
}

func newFDPair(t *testing.T, mk transportMaker) *fdPair {
	t.Helper()
	p := &fdPair{got: make(chan *FDMsg, 512)}
	p.root = newRoot(t, actors.Config{Setup: fdSetup})
	p.kid = attachOver(t, p.root, "worker", actors.Config{Setup: setups(fdSetup, fdSink(p.got))}, mk)
	p.sink = spawnRemote(t, p.root, p.kid.link.ID, "fdsink", "sink")
	return p
}

func (p *fdPair) request(t testing.TB, m *FDMsg) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	ack, err := actors.Request[*FDAck](ctx, p.root, p.sink, m)
	if err == nil && ack.Tag != m.Tag {
		t.Fatalf("ack %q for %q", ack.Tag, m.Tag)
	}
	return err
}

func pipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

func cloexec(t testing.TB, sc syscall.Conn) bool {
	t.Helper()
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	if err := rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFD, 0) }); err != nil || ferr != nil {
		t.Fatalf("F_GETFD: %v %v", err, ferr)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// TestFDs_EveryKindArrivesWorking sends a pipe, a TCP listener, a TCP
// connection, a unix listener (behind an any field) and a unix connection
// in one message, closes the sender's copies, and uses each in the
// receiving actor's context.
func TestFDs_EveryKindArrivesWorking(t *testing.T) {
	p := newFDPair(t, unixPair)
	base := fdcount.Open(t)

	pr, pw := pipe(t)
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tclient, err := net.Dial("tcp", tln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tserver, err := tln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "s")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	uln.(*net.UnixListener).SetUnlinkOnClose(false)
	ua, ub := socketpairConns(t)

	msg := &FDMsg{Tag: "all", File: pw, L: tln, C: tserver, Any: uln, Files: []*os.File{pr}}
	if err := p.request(t, msg); err != nil {
		t.Fatalf("request: %v", err)
	}
	m := recv(t, p.got, waitLong, "message with descriptors")
	// The sender gives its copies up; the receiver's must still work.
	for _, c := range []io.Closer{pw, tln, tserver, uln} {
		_ = c.Close()
	}

	if m.File == nil || m.File.Name() != pw.Name() {
		t.Fatalf("File = %v, want a file named %q", m.File, pw.Name())
	}
	if !cloexec(t, m.File) {
		t.Error("received file is not close-on-exec")
	}
	if _, err := m.File.WriteString("through the pipe"); err != nil {
		t.Fatal(err)
	}
	_ = m.File.Close()
	if b, err := io.ReadAll(m.Files[0]); err != nil || string(b) != "through the pipe" {
		t.Fatalf("read back %q, %v", b, err)
	}
	_ = m.Files[0].Close()
	_ = pr.Close()

	rl, ok := m.L.(*net.TCPListener)
	if !ok {
		t.Fatalf("L is %T, want *net.TCPListener", m.L)
	}
	go func() {
		if c, err := net.Dial("tcp", rl.Addr().String()); err == nil {
			_, _ = c.Write([]byte("x"))
			_ = c.Close()
		}
	}()
	ac, err := rl.Accept()
	if err != nil {
		t.Fatalf("accept on the received listener: %v", err)
	}
	_ = ac.Close()
	_ = rl.Close()

	rc, ok := m.C.(*net.TCPConn)
	if !ok {
		t.Fatalf("C is %T, want *net.TCPConn", m.C)
	}
	if _, err := rc.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(tclient, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	_ = rc.Close()
	_ = tclient.Close()

	ul, ok := m.Any.(*net.UnixListener)
	if !ok {
		t.Fatalf("Any is %T, want *net.UnixListener", m.Any)
	}
	go func() {
		if c, err := net.Dial("unix", sock); err == nil {
			_ = c.Close()
		}
	}()
	if c, err := ul.Accept(); err != nil {
		t.Fatalf("accept on the received unix listener: %v", err)
	} else {
		_ = c.Close()
	}
	_ = ul.Close()

	// A unix connection, alone.
	if err := p.request(t, &FDMsg{Tag: "unix conn", C: ua}); err != nil {
		t.Fatal(err)
	}
	_ = ua.Close()
	m = recv(t, p.got, waitLong, "unix conn")
	uc, ok := m.C.(*net.UnixConn)
	if !ok {
		t.Fatalf("C is %T, want *net.UnixConn", m.C)
	}
	if _, err := uc.Write([]byte("u")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(ub, buf[:1]); err != nil || buf[0] != 'u' {
		t.Fatalf("unix peer read %q, %v", buf[:1], err)
	}
	_ = uc.Close()
	_ = ub.Close()

	fdcount.Await(t, base, waitLong) // every descriptor made here is closed, in both contexts
}

func socketpairConns(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	fd0, fd1, err := platform.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	return fileConn(t, fd0), fileConn(t, fd1)
}

// TestFDs_BoundToTheirFrames sends 200 pipes from 4 goroutines, mixed with
// 300 KiB messages that the writer cuts into pieces, and checks that each
// message got its own pipe: the pipe holds the message's tag.
func TestFDs_BoundToTheirFrames(t *testing.T) {
	p := newFDPair(t, unixPair)
	base := fdcount.Open(t)
	const senders, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				tag := fmt.Sprintf("s%d-m%d", s, i)
				r, w, err := os.Pipe()
				if err != nil {
					errs <- err
					return
				}
				_, _ = w.WriteString(tag)
				_ = w.Close()
				m := &FDMsg{Tag: tag, File: r}
				if i%5 == 0 {
					m.Big = bytes.Repeat([]byte{byte(i)}, 100<<10) // still one frame
				}
				err = p.root.Send(p.sink, m)
				_ = r.Close() // ours; the message has its own duplicate
				if err != nil {
					errs <- err
				}
				if i%7 == 0 { // bulk without descriptors in between
					_ = p.root.Send(p.sink, &FDMsg{Tag: tag + "-bulk", Big: make([]byte, 300<<10)})
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}
	seen := 0
	for seen < senders*each {
		m := recv(t, p.got, waitLong, "tagged pipe")
		if m.File == nil {
			if !strings.HasSuffix(m.Tag, "-bulk") {
				t.Fatalf("message %q arrived without its file", m.Tag)
			}
			continue
		}
		b, err := io.ReadAll(m.File)
		_ = m.File.Close()
		if err != nil || string(b) != m.Tag {
			t.Fatalf("message %q carried the pipe of %q (%v)", m.Tag, b, err)
		}
		seen++
	}
	fdcount.Await(t, base, waitLong)
}

// TestFDs_LinkWithoutFDPassing: over pipes (and any link that is not a
// unix socket on both ends) the send fails at the sender with *FDError /
// ErrNoFDPassing, a waiting request fails with it at once, and nothing
// leaks.
func TestFDs_LinkWithoutFDPassing(t *testing.T) {
	for _, tr := range []struct {
		name string
		mk   transportMaker
	}{{"os.Pipe pair", osPipes}, {"net.Pipe", netPipe}, {"TCP loopback", tcpLoopback}} {
		t.Run(tr.name, func(t *testing.T) {
			p := newFDPair(t, tr.mk)
			r, w := pipe(t)
			defer r.Close()
			defer w.Close()
			base := fdcount.Open(t)
			err := p.root.Send(p.sink, &FDMsg{Tag: "no", File: w})
			var fe *actors.FDError
			if !errors.As(err, &fe) || !errors.Is(err, actors.ErrNoFDPassing) {
				t.Fatalf("Send = %v, want *FDError wrapping ErrNoFDPassing", err)
			}
			if fe.Context != p.kid.link.ID || fe.PID == nil {
				t.Errorf("FDError names context %d pid %v, want %d and the sink", fe.Context, fe.PID, p.kid.link.ID)
			}
			start := time.Now()
			if err := p.request(t, &FDMsg{Tag: "no", File: w}); !errors.Is(err, actors.ErrNoFDPassing) {
				t.Fatalf("Request = %v, want ErrNoFDPassing", err)
			}
			if d := time.Since(start); d > atOnce {
				t.Errorf("request failed after %v, want at once", d)
			}
			fdcount.Await(t, base, waitLong)
			// The link is fine for messages without descriptors.
			if err := p.request(t, &FDMsg{Tag: "plain"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFDs_Limits: 253 descriptors travel in one message, 254 fail at the
// sender, and a message with descriptors larger than one chunk fails too.
func TestFDs_Limits(t *testing.T) {
	p := newFDPair(t, unixPair)
	r, w := pipe(t)
	defer r.Close()
	defer w.Close()
	base := fdcount.Open(t)
	files := make([]*os.File, wire.MaxFDs+1)
	for i := range files {
		files[i] = w
	}
	err := p.root.Send(p.sink, &FDMsg{Tag: "254", Files: files})
	if !errors.Is(err, wire.ErrTooManyFDs) {
		t.Fatalf("254 descriptors: %v, want ErrTooManyFDs", err)
	}
	fdcount.Await(t, base, waitLong)
	err = p.root.Send(p.sink, &FDMsg{Tag: "big", File: w, Big: make([]byte, wire.DefaultChunkSize)})
	var fe *actors.FDError
	if !errors.As(err, &fe) || !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("big message with a descriptor: %v, want *FDError wrapping ErrFrameTooLarge", err)
	}
	fdcount.Await(t, base, waitLong)
	if err := p.request(t, &FDMsg{Tag: "253", Files: files[:wire.MaxFDs]}); err != nil {
		t.Fatalf("253 descriptors: %v", err)
	}
	m := recv(t, p.got, waitLong, "253 files")
	if len(m.Files) != wire.MaxFDs {
		t.Fatalf("got %d files", len(m.Files))
	}
	for _, f := range m.Files {
		_ = f.Close()
	}
	fdcount.Await(t, base, waitLong)
}

// TestFDs_ClosedFileFailsAtSender: a closed file cannot be passed.
func TestFDs_ClosedFileFailsAtSender(t *testing.T) {
	p := newFDPair(t, unixPair)
	r, w := pipe(t)
	_ = r.Close()
	_ = w.Close()
	base := fdcount.Open(t)
	err := p.root.Send(p.sink, &FDMsg{Tag: "closed", File: w})
	var fe *actors.FDError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Send = %v, want *FDError saying the file is closed", err)
	}
	fdcount.Await(t, base, waitLong)
}

// TestFDs_MissingActorClosesThem: a message with descriptors for an actor
// that does not exist is answered IS_DEAD and its descriptors are closed in
// the receiver.
func TestFDs_MissingActorClosesThem(t *testing.T) {
	p := newFDPair(t, unixPair)
	r, w := pipe(t)
	defer r.Close()
	base := fdcount.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	nowhere := actor.NewPID(actors.Address(p.kid.link.ID), "nowhere")
	_, err := actors.Request[*FDAck](ctx, p.root, nowhere, &FDMsg{Tag: "lost", File: w})
	if !errors.Is(err, actors.ErrNoActor) {
		t.Fatalf("Request = %v, want ErrNoActor", err)
	}
	_ = w.Close()
	fdcount.Await(t, base-1, waitLong)
	// With the write end closed everywhere, the read end sees EOF.
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
}

// TestFDs_ForwardedThroughAMiddleContext: root -> mid -> leaf, both links
// socketpairs: the descriptors travel on with their frame. With a pipe link
// after mid, the request fails as rejected and mid closes them.
func TestFDs_ForwardedThroughAMiddleContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		leaf transportMaker
		ok   bool
	}{{"socketpair", unixPair, true}, {"pipes after mid", osPipes, false}} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan *FDMsg, 4)
			root := newRoot(t, actors.Config{Setup: fdSetup})
			// mid does not know the message types: it forwards by header.
			mid := attachOver(t, root, "mid", actors.Config{}, unixPair)
			leaf := attachOver(t, mid.node, "leaf", actors.Config{Setup: setups(fdSetup, fdSink(got))}, tc.leaf)
			waitFor(t, waitLong, "the root to learn the route to the leaf", func() bool {
				_, ok := root.Routes()[leaf.link.ID]
				return ok
			})
			sink := spawnRemote(t, root, leaf.link.ID, "fdsink", "sink")
			r, w := pipe(t)
			defer r.Close()
			base := fdcount.Open(t)
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			_, err := actors.Request[*FDAck](ctx, root, sink, &FDMsg{Tag: "hop", File: w})
			_ = w.Close()
			if !tc.ok {
				if !errors.Is(err, actors.ErrRejected) || !strings.Contains(err.Error(), "descriptors") {
					t.Fatalf("Request = %v, want rejected: cannot pass descriptors", err)
				}
				fdcount.Await(t, base-1, waitLong)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := recv(t, got, waitLong, "forwarded file")
			if _, err := m.File.WriteString("two hops"); err != nil {
				t.Fatal(err)
			}
			_ = m.File.Close()
			if b, _ := io.ReadAll(r); string(b) != "two hops" {
				t.Fatalf("read %q", b)
			}
			fdcount.Await(t, base-1, waitLong)
		})
	}
}
