package actors_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
)

// TestLink_BackpressureReleasedOnDeath: a child that stops reading makes
// senders block (memory stays bounded: the link queue is limited, and an
// idle link may be written inline by the sender), and when that child dies
// the blocked senders are released at once with an error that says the
// context is dead (ErrContextDead), like every other send to it.
func TestLink_BackpressureReleasedOnDeath(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	raw, link := attachRawDeaf(t, root, "stuck")
	target := actor.NewPID(actors.Address(raw.id), "anyone")
	big := &Ping{Text: strings.Repeat("x", 512<<10)} // under the peer's 1 MiB frame limit
	const total = 200                                // 100 MiB: far more than the queue may hold

	var sent atomic.Int64
	sendErr := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			if err := root.Send(target, big); err != nil {
				sendErr <- err
				return
			}
			sent.Add(1)
		}
		sendErr <- nil
	}()
	// A request stuck behind the same link.
	pending := requestAsync(root, target, &Ping{Text: "small"}, ctxLong)

	// Nothing to wait on here: give the sender time to run into the limit.
	select {
	case err := <-sendErr:
		if err == nil {
			t.Fatalf("all %d sends of 512 KiB returned while the peer read nothing: no backpressure", total)
		}
		t.Fatalf("send failed before the peer died: %v", err)
	case <-time.After(500 * time.Millisecond): // blocked, as it should be
	}

	killed := time.Now()
	_ = raw.conn.Close()
	if !closedWithin(link.Done(), waitLong) {
		t.Fatal("link still up")
	}
	err := recv(t, sendErr, waitLong, "the blocked Send to return")
	if took := time.Since(killed); took > atOnce {
		t.Errorf("blocked Send released %v after the peer died", took)
	}
	if n := sent.Load(); n >= total {
		t.Errorf("%d sends succeeded", n)
	}
	if !errors.Is(err, actors.ErrContextDead) {
		t.Errorf("blocked Send returned %q (%T), want an error matching ErrContextDead", err, err)
	}
	out := recv(t, pending, ctxLong+time.Second, "the blocked request")
	if !errors.Is(out.err, actors.ErrContextDead) {
		t.Errorf("blocked Request returned %q (%T), want an error matching ErrContextDead", out.err, out.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	if _, err := root.Request(ctx, target, &Ping{}); !errors.Is(err, actors.ErrContextDead) {
		t.Errorf("later Request: %v, want ErrContextDead", err)
	}
}

// TestLink_NoDeadlockWhenBothSidesAnswer: two nodes that both answer the
// other's frames from their link readers (here IS_DEAD for a type the
// receiver does not know) must not deadlock on a synchronous transport: a
// reader that blocks writing to a peer whose reader blocks writing back
// would stop the link for good.
func TestLink_NoDeadlockWhenBothSidesAnswer(t *testing.T) {
	type ChildOnly struct{ X int }
	k := newKinds()
	root := newRoot(t, actors.Config{Setup: setups(typeSetup, rootOnlySetup, k.setup)})
	c := attach(t, root, "worker", actors.Config{Setup: setups(typeSetup, k.setup, func(n *actors.Node) error {
		return actors.RegisterType[ChildOnly](n, "test.ChildOnly")
	})})
	rootEcho := root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
		if m, ok := ac.Message().(*Ping); ok {
			ac.Respond(&Pong{Text: m.Text})
		}
	}))
	childEcho := spawnRemote(t, root, c.link.ID, "echo", "")
	inRoot := actor.NewPID(rootEcho.Address, rootEcho.Id) // a fresh PID for the child's system

	// Spaced sends keep both links "idle" between frames, the case where
	// frames are written by the sending goroutine itself; that includes
	// the readers' IS_DEAD answers.
	const rounds = 500
	done := make(chan struct{}, 2)
	go func() {
		for i := 0; i < rounds; i++ {
			_ = root.Send(childEcho, &RootOnly{X: i}) // the child answers IS_DEAD
			time.Sleep(50 * time.Microsecond)
		}
		done <- struct{}{}
	}()
	go func() {
		for i := 0; i < rounds; i++ {
			_ = c.node.Send(inRoot, &ChildOnly{X: i}) // the root answers IS_DEAD
			time.Sleep(50 * time.Microsecond)
		}
		done <- struct{}{}
	}()
	for i := 0; i < 2; i++ {
		select {
		case <-done:
		case <-time.After(waitLong):
			t.Fatalf("senders still blocked after %v: the link deadlocked (both readers writing to each other)", waitLong)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if _, err := actors.Request[*Pong](ctx, root, childEcho, &Ping{Text: "down"}); err != nil {
		logLinkStacks(t)
		t.Fatalf("root to child after the storm: %v (the link deadlocked)", err)
	}
	if _, err := actors.Request[*Pong](ctx, c.node, inRoot, &Ping{Text: "up"}); err != nil {
		logLinkStacks(t)
		t.Fatalf("child to root after the storm: %v (the link deadlocked)", err)
	}
}

// logLinkStacks logs the stacks of the goroutines inside the
// link layer, to show where a stuck link is stuck.
func logLinkStacks(t *testing.T) {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "actors.(*link)") || strings.Contains(g, "link.(*Link)") {
			t.Log(g)
		}
	}
}
