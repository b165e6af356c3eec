package actors_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/fdcount"
)

// worker is a child context with an Inbox actor "inbox"; a goroutine
// answers every connection from the inbox with the worker's name.
type worker struct {
	*child
	inbox *actors.Inbox
	pid   *actor.PID
}

func newWorker(t *testing.T, root *actors.Node, name string, backlog int, mk transportMaker, serve bool) *worker {
	t.Helper()
	inbox := actors.NewInbox(nil, backlog)
	c := attachOver(t, root, name, actors.Config{Setup: func(n *actors.Node) error {
		n.RegisterKind("inbox", inbox.Props())
		return nil
	}}, mk)
	w := &worker{child: c, inbox: inbox}
	w.pid = spawnRemote(t, root, c.link.ID, "inbox", "inbox")
	var wg sync.WaitGroup
	if serve {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				conn, err := inbox.Accept()
				if err != nil {
					return
				}
				_, _ = conn.Write([]byte(name))
				_ = conn.Close()
			}
		}()
	}
	t.Cleanup(func() {
		_ = inbox.Close()
		wg.Wait()
	})
	return w
}

// fetch connects to addr and returns what the server wrote before closing.
func fetch(t testing.TB, addr string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLong)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitLong))
	b, err := io.ReadAll(c)
	return string(b), err
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestHandoff_DispatchAcrossWorkers: the parent accepts and hands every
// connection to a worker; the workers answer the clients directly, and the
// parent keeps no copy.
func TestHandoff_DispatchAcrossWorkers(t *testing.T) {
	root := newRoot(t, actors.Config{})
	w1 := newWorker(t, root, "w1", 0, unixPair, true)
	w2 := newWorker(t, root, "w2", 0, unixPair, true)
	base := fdcount.Open(t)
	d := actors.NewDispatcher(root, func() []*actor.PID { return []*actor.PID{w1.pid, w2.pid} })
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx, ln) }()
	names := map[string]int{}
	for range 20 {
		got, err := fetch(t, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		names[got]++
	}
	if names["w1"] != 10 || names["w2"] != 10 {
		t.Fatalf("served %v, want 10 each (round robin)", names)
	}
	if s := d.Stats(); s.Handed != 20 || s.Retried != 0 {
		t.Fatalf("stats %+v", s)
	}
	cancel()
	if err := recv(t, served, waitLong, "Serve to return"); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	fdcount.Await(t, base, waitLong) // the listener and every connection are closed in both contexts
}

// TestHandoff_DeadWorkerLosesNothing: with one worker dead, every
// connection still reaches the live one.
func TestHandoff_DeadWorkerLosesNothing(t *testing.T) {
	root := newRoot(t, actors.Config{})
	w1 := newWorker(t, root, "w1", 0, unixPair, true)
	w2 := newWorker(t, root, "w2", 0, unixPair, true)
	d := actors.NewDispatcher(root, func() []*actor.PID { return []*actor.PID{w1.pid, w2.pid} })
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Serve(ctx, ln) }()
	w1.kill()
	<-w1.link.Done()
	for i := range 10 {
		got, err := fetch(t, ln.Addr().String())
		if err != nil || got != "w2" {
			t.Fatalf("connection %d: %q, %v; want w2", i, got, err)
		}
	}
	if s := d.Stats(); s.Handed != 10 || s.Retried == 0 {
		t.Fatalf("stats %+v: want 10 handed and the dead worker skipped", s)
	}
}

// TestHandoff_ShareListener: the workers accept from the parent's
// listener themselves; the parent's copy can be closed.
func TestHandoff_ShareListener(t *testing.T) {
	root := newRoot(t, actors.Config{})
	w1 := newWorker(t, root, "w1", 0, unixPair, true)
	w2 := newWorker(t, root, "w2", 0, unixPair, true)
	ln := listen(t)
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := actors.ShareListener(ctx, root, ln, []*actor.PID{w1.pid, w2.pid}); err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	for i := range 10 {
		got, err := fetch(t, addr)
		if err != nil || (got != "w1" && got != "w2") {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
}

// TestHandoff_Refusals: a full inbox refuses (the caller keeps the
// connection), a closed one too, and a worker over pipes fails at once.
func TestHandoff_Refusals(t *testing.T) {
	root := newRoot(t, actors.Config{})
	full := newWorker(t, root, "full", 1, unixPair, false)
	d := actors.NewDispatcher(root, func() []*actor.PID { return []*actor.PID{full.pid} })
	ln := listen(t)
	defer ln.Close()
	go func() {
		for range 2 {
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				defer c.Close()
			}
		}
	}()
	accept := func() net.Conn {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1, c2 := accept(), accept()
	defer c2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if _, err := d.Dispatch(ctx, c1); err != nil {
		t.Fatalf("first: %v", err)
	}
	// The second is refused, and retried until its context ends: end it
	// once a refusal has been seen, whatever the machine's speed.
	go func() {
		for d.Stats().Retried == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := d.Dispatch(ctx, c2)
	if !errors.Is(err, actors.ErrNoWorker) || !strings.Contains(err.Error(), "inbox full") {
		t.Fatalf("second: %v, want ErrNoWorker after 'inbox full'", err)
	}
	if _, err := c2.Write([]byte("still mine")); err != nil {
		t.Fatalf("the refused connection is closed in the parent: %v", err)
	}

	_ = full.inbox.Close()
	if _, err := full.inbox.Accept(); !errors.Is(err, actors.ErrInboxClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}

	piped := newWorker(t, root, "piped", 0, osPipes, true)
	dp := actors.NewDispatcher(root, func() []*actor.PID { return []*actor.PID{piped.pid} })
	start := time.Now()
	if _, err := dp.Dispatch(context.Background(), c2); !errors.Is(err, actors.ErrNoFDPassing) {
		t.Fatalf("over pipes: %v, want ErrNoFDPassing", err)
	}
	if d := time.Since(start); d > atOnce {
		t.Fatalf("over pipes the dispatch failed after %v, want at once", d)
	}
}

// TestHandoff_SlowWorkerIsWaitedFor: a worker that answers late still has
// the connection; the dispatcher waits for it instead of handing the
// connection to a second worker.
func TestHandoff_SlowWorkerIsWaitedFor(t *testing.T) {
	root := newRoot(t, actors.Config{})
	slow := attachOver(t, root, "slow", actors.Config{Setup: func(n *actors.Node) error {
		n.RegisterKind("slow", actor.PropsFromFunc(func(c actor.Context) {
			if m, ok := c.Message().(*actors.Conn); ok {
				_, _ = m.Conn.Write([]byte("slow;"))
				_ = m.Conn.Close()
				time.Sleep(300 * time.Millisecond) // answers late, having taken it
				c.Respond(&actors.Handed{})
			}
		}))
		return nil
	}}, unixPair)
	slowPID := spawnRemote(t, root, slow.link.ID, "slow", "slow")
	fast := newWorker(t, root, "fast", 0, unixPair, true)
	d := actors.NewDispatcher(root, func() []*actor.PID { return []*actor.PID{fast.pid, slowPID} })
	ln := listen(t)
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			if _, err := d.Dispatch(ctx, c); err != nil {
				t.Errorf("Dispatch: %v", err)
			}
		}
	}()
	got, err := fetch(t, ln.Addr().String()) // round robin starts at the second worker: slow
	if err != nil || got != "slow;" {
		t.Fatalf("client read %q, %v; want only the slow worker's answer", got, err)
	}
	waitFor(t, waitLong, "the hand-off to count", func() bool { return d.Stats().Handed == 1 })
	if s := d.Stats(); s.Retried != 0 {
		t.Fatalf("stats %+v: the slow worker was bypassed", s)
	}
}
