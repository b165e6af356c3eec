package actors_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"go.uber.org/goleak"
)

// TestNode_ShutdownIdempotentNoLeaks shuts a three-level tree down from
// the root: Shutdown may be called again, the children stop because their
// parent link broke, later calls fail cleanly, and no goroutine is left.
func TestNode_ShutdownIdempotentNoLeaks(t *testing.T) {
	leakOpts := append([]goleak.Option{goleak.IgnoreCurrent()}, leakIgnores()...)
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root := newRoot(t, cfg)
	mid := attach(t, root, "mid", cfg)
	leaf := attach(t, mid.node, "leaf", cfg)
	waitFor(t, waitLong, "the route to the leaf", func() bool { _, ok := root.Routes()[leaf.link.ID]; return ok })
	echo := spawnRemote(t, root, leaf.link.ID, "echo", "")
	ping(t, root, echo, "before")
	ev := make(chan watchEvent, 4)
	spawnWatcher(t, root, echo, ev)
	ping(t, root, echo, "watch in place")

	ctx, cancel := context.WithTimeout(context.Background(), shutGrace)
	defer cancel()
	for i := 0; i < 3; i++ {
		if err := root.Shutdown(ctx); err != nil {
			t.Fatalf("root.Shutdown #%d: %v", i+1, err)
		}
	}
	if !isClosed(root.Stopping()) || !errors.Is(root.StopReason(), actors.ErrNodeClosed) {
		t.Errorf("root StopReason = %v, want ErrNodeClosed", root.StopReason())
	}
	if !closedWithin(mid.node.Stopping(), waitLong) {
		t.Fatal("mid did not stop when its parent shut down")
	}
	if why := mid.node.StopReason(); why == nil || !strings.Contains(why.Error(), "parent link down") {
		t.Errorf("mid StopReason = %v, want a parent link down reason", why)
	}
	// What a child does on Stopping: shut down, which takes its own
	// children down in turn.
	for i := 0; i < 2; i++ {
		if err := mid.node.Shutdown(ctx); err != nil {
			t.Fatalf("mid.Shutdown #%d: %v", i+1, err)
		}
	}
	if !closedWithin(leaf.node.Stopping(), waitLong) {
		t.Fatal("leaf did not stop when its parent shut down")
	}
	if err := leaf.node.Shutdown(ctx); err != nil {
		t.Fatalf("leaf.Shutdown: %v", err)
	}
	if term := nextTerminated(t, ev, waitLong); term.Why != actor.TerminatedReason_AddressTerminated {
		t.Errorf("watcher in the root got Terminated %v, want AddressTerminated", term.Why)
	}

	// Calls after Shutdown fail at once instead of hanging.
	start := time.Now()
	if _, err := root.Request(ctx, echo, &Ping{}); !errors.Is(err, actors.ErrContextDead) {
		t.Errorf("Request after Shutdown: %v, want ErrContextDead", err)
	}
	if err := root.Send(echo, &Ping{}); !errors.Is(err, actors.ErrContextDead) {
		t.Errorf("Send after Shutdown: %v, want ErrContextDead", err)
	}
	if _, err := root.SpawnRemote(ctx, mid.link.ID, "echo", ""); err == nil {
		t.Error("SpawnRemote after Shutdown succeeded")
	}
	if took := time.Since(start); took > atOnce {
		t.Errorf("calls after Shutdown took %v", took)
	}
	attachAfterShutdown(t, root)

	goleak.VerifyNone(t, leakOpts...)
}

// attachAfterShutdown: a node that has shut down refuses new children with
// ErrNodeClosed and closes their transport.
func attachAfterShutdown(t *testing.T, root *actors.Node) {
	t.Helper()
	parentEnd, childEnd := net.Pipe()
	joined := make(chan *actors.Node, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		n, err := actors.Join(ctx, actors.Config{Logger: newLogStore(t).logger()},
			actors.Transport{R: childEnd, W: childEnd, C: childEnd})
		if err != nil {
			_ = childEnd.Close()
		}
		joined <- n
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err := root.AttachChild(ctx, "late", actors.Transport{R: parentEnd, W: parentEnd, C: parentEnd})
	if !errors.Is(err, actors.ErrNodeClosed) {
		t.Errorf("AttachChild after Shutdown: %v, want ErrNodeClosed", err)
	}
	if n := recv(t, joined, waitLong, "Join to return"); n != nil {
		if !closedWithin(n.Stopping(), waitLong) {
			t.Error("late child did not stop after its parent refused it")
		}
		shutdown(t, n)
	}
}

// TestNode_ChildStopsOnShutdownRequest: RequestShutdown from the parent
// makes the child's Stopping fire with ErrShutdownRequested.
func TestNode_ChildStopsOnShutdownRequest(t *testing.T) {
	root, c, _ := pair(t)
	if err := root.RequestShutdown(c.link.ID); err != nil {
		t.Fatalf("RequestShutdown: %v", err)
	}
	if !closedWithin(c.node.Stopping(), waitLong) {
		t.Fatal("child did not stop")
	}
	if !errors.Is(c.node.StopReason(), actors.ErrShutdownRequested) {
		t.Errorf("StopReason = %v, want ErrShutdownRequested", c.node.StopReason())
	}
}

// TestNode_Identity checks IDs, names, addresses and parents of a pair.
func TestNode_Identity(t *testing.T) {
	root, c, _ := pair(t)
	if root.ID() != 0 || root.Address() != "ctx-0" || root.Name() != "root" || len(root.Parents()) != 0 {
		t.Errorf("root: id %d address %q name %q parents %v", root.ID(), root.Address(), root.Name(), root.Parents())
	}
	if c.node.ID() != c.link.ID || c.node.Name() != "worker" || c.link.Name != "worker" {
		t.Errorf("child: id %d (link %d) name %q (link %q)", c.node.ID(), c.link.ID, c.node.Name(), c.link.Name)
	}
	if c.node.Address() != actors.Address(c.link.ID) {
		t.Errorf("child address %q, want %q", c.node.Address(), actors.Address(c.link.ID))
	}
	if c.link.Incarnation != c.node.Incarnation() {
		t.Errorf("link incarnation %v, child's %v", c.link.Incarnation, c.node.Incarnation())
	}
	if p := c.node.Parents(); len(p) != 1 || p[0] != 0 {
		t.Errorf("child parents %v, want [0]", p)
	}
	pid := spawnRemote(t, root, c.link.ID, "echo", "")
	if id, ok := actors.ContextOf(pid); !ok || id != c.link.ID {
		t.Errorf("ContextOf(%s) = %d, %v", pidString(pid), id, ok)
	}
}

// TestNode_ConfigValidation rejects impossible configurations.
func TestNode_ConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  actors.Config
	}{
		{"MaxFrame below minimum", actors.Config{MaxFrame: 1024}},
		{"name too long", actors.Config{Name: strings.Repeat("n", 256)}},
		{"setup fails", actors.Config{Setup: func(*actors.Node) error { return errors.New("boom") }}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = newLogStore(t).logger()
			n, err := actors.NewNode(tt.cfg)
			if err == nil {
				shutdown(t, n)
				t.Fatal("NewNode succeeded")
			}
		})
	}
}
