package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/transfer"
)

func TestStream_EchoBothWays(t *testing.T) {
	root, c := pair(t)
	for _, dir := range []struct {
		name     string
		from, to *actors.Node
	}{{"root to child", root, c.node}, {"child to root", c.node, root}} {
		t.Run(dir.name, func(t *testing.T) {
			s, err := tr(dir.from).Open(timeout(t), dir.to.ID(), "echo")
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 3<<20+17) // several windows
			_, _ = pattern{}.Read(want)
			go func() {
				_, _ = s.Write(want)
				_ = s.CloseWrite()
			}()
			got, err := io.ReadAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("echo: %d bytes back, want %d", len(got), len(want))
			}
			_ = s.Close()
		})
	}
	waitStreams(t, root, 0)
	waitStreams(t, c.node, 0)
}

func waitStreams(t testing.TB, n *actors.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for tr(n).Streams() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d streams open, want %d", n.Name(), tr(n).Streams(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStream_HalfClose(t *testing.T) {
	root, c := pair(t)
	s, err := tr(root).Open(timeout(t), c.node.ID(), "count")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(s, pattern{}, 5<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := binary.Read(s, binary.BigEndian, &n); err != nil || n != 5<<20 {
		t.Fatalf("count %d, %v", n, err)
	}
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the answer: %v, want EOF", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, transfer.ErrClosed) {
		t.Fatalf("Write after CloseWrite: %v", err)
	}
	_ = s.Close()
	waitStreams(t, root, 0)
}

func TestStream_OpenErrors(t *testing.T) {
	root, c := pair(t)
	ctx := timeout(t)
	if _, err := tr(root).Open(ctx, c.node.ID(), "nobody"); !errors.Is(err, transfer.ErrNoHandler) {
		t.Errorf("unknown handler: %v", err)
	}
	// The child is not an ancestor of the root: "private" refuses it.
	if _, err := tr(c.node).Open(ctx, root.ID(), "private"); !errors.Is(err, transfer.ErrRefused) {
		t.Errorf("child opens private: %v", err)
	}
	var se *transfer.StreamError
	_, err := tr(c.node).Open(ctx, root.ID(), "private")
	if !errors.As(err, &se) || !se.Remote || se.Code != transfer.CodeRefused {
		t.Errorf("refusal: %#v", err)
	}
	s, err := tr(root).Open(ctx, c.node.ID(), "private") // the root is
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(s); err != nil || string(b) != "ok" {
		t.Errorf("private from the root: %q %v", b, err)
	}
	if _, err := tr(root).Open(ctx, 4242, "echo"); !errors.Is(err, actors.ErrContextDead) {
		t.Errorf("no such context: %v", err)
	}
	if err := tr(root).Handle("spindle.push", func(context.Context, *transfer.Stream) error { return nil }, nil); err == nil {
		t.Error("the file handler's name taken again")
	}
}

func TestStream_CancelResetsBothSides(t *testing.T) {
	root, c := pair(t)
	ctx, cancel := context.WithCancel(timeout(t))
	s, err := tr(root).Open(ctx, c.node.ID(), "hold")
	if err != nil {
		t.Fatal(err)
	}
	// The handler never reads: writing beyond the window blocks until the
	// cancel.
	errc := make(chan error, 1)
	go func() {
		_, err := io.CopyN(s, pattern{}, 8<<20)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Write after cancel: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Write still blocked after the cancel")
	}
	waitStreams(t, c.node, 0) // the handler saw its ctx end
	waitStreams(t, root, 0)
}

func TestStream_PeerDeathFailsAtOnce(t *testing.T) {
	root, c := pair(t)
	s, err := tr(root).Open(timeout(t), c.node.ID(), "hold")
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		readErr <- err
	}()
	c.kill()
	select {
	case err := <-readErr:
		if !errors.Is(err, actors.ErrContextDead) {
			t.Fatalf("Read after the peer died: %v", err)
		}
		var de *actors.DeadError
		if !errors.As(err, &de) || de.Context != c.node.ID() {
			t.Fatalf("want a *DeadError for context %d: %#v", c.node.ID(), err)
		}
	case <-time.After(waitLong):
		t.Fatal("Read still blocked after the peer died")
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("Write after the death: %v", err)
	}
	waitStreams(t, root, 0)
}

func TestStream_ShutdownResetsAndCancelsHandlers(t *testing.T) {
	root, c := pair(t)
	s, err := tr(root).Open(timeout(t), c.node.ID(), "hold")
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, c.node) // returns once the handler has returned
	_, err = s.Read(make([]byte, 1))
	if !errors.Is(err, transfer.ErrShutdown) && !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("Read after the peer shut down: %v", err)
	}
	if _, err := tr(root).Open(timeout(t), c.node.ID(), "echo"); err == nil {
		t.Fatal("Open to a shut down context succeeded")
	}
}

func TestStream_ManyConcurrent(t *testing.T) {
	root, c := pair(t)
	const n = 16
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			s, err := tr(root).Open(timeout(t), c.node.ID(), "echo")
			if err != nil {
				errc <- err
				return
			}
			defer s.Close()
			want := bytes.Repeat([]byte{byte(i)}, 300<<10+i)
			go func() { _, _ = s.Write(want); _ = s.CloseWrite() }()
			got, err := io.ReadAll(s)
			if err == nil && sha256.Sum256(got) != sha256.Sum256(want) {
				err = errors.New("data differs")
			}
			errc <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	waitStreams(t, root, 0)
	waitStreams(t, c.node, 0)
}

// TestStream_OpenToContextWithoutTransfer: a context that has no Transfer
// answers STREAM_OPEN as an unknown kind; the open fails at once with
// ErrNoHandler instead of waiting for its deadline.
func TestStream_OpenToContextWithoutTransfer(t *testing.T) {
	root := newRoot(t, actors.Config{})
	bare := attach(t, root, "bare", actors.Config{Setup: func(*actors.Node) error { return nil }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if _, err := tr(root).Open(ctx, bare.node.ID(), "echo"); !errors.Is(err, transfer.ErrNoHandler) {
		t.Fatalf("open to a context without a Transfer: %v", err)
	}
}

// TestStream_ThroughMiddleContext: a stream to a grandchild crosses the
// middle context frame by frame (forwarded by header), and the middle's
// death fails it at once.
func TestStream_ThroughMiddleContext(t *testing.T) {
	root := newRoot(t, actors.Config{})
	mid := attach(t, root, "mid", actors.Config{})
	leaf := attach(t, mid.node, "leaf", actors.Config{})
	waitRoute(t, root, leaf.node.ID())
	s, err := tr(root).Open(timeout(t), leaf.node.ID(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 3<<20)
	_, _ = pattern{}.Read(want)
	go func() { _, _ = s.Write(want); _ = s.CloseWrite() }()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("echo through the middle: %d bytes, %v", len(got), err)
	}
	held, err := tr(root).Open(timeout(t), leaf.node.ID(), "hold")
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := held.Read(make([]byte, 1))
		readErr <- err
	}()
	mid.kill()
	select {
	case err := <-readErr:
		if !errors.Is(err, actors.ErrContextDead) {
			t.Fatalf("Read after the middle died: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Read still blocked after the middle context died")
	}
}

// waitRoute waits until n routes to context id (ADD_ROUTE travels up
// after the attach returns; before it arrives n drops frames from id as
// spoofed and has no route to it).
func waitRoute(t testing.TB, n *actors.Node, id uint32) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); ; time.Sleep(time.Millisecond) {
		if _, ok := n.Routes()[id]; ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never learnt the route to context %d", n.Name(), id)
		}
	}
}
