package actors_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
)

// TestShutdown_DeadlinePassedThenOwned: a shutdown hook that outlives
// Shutdown's deadline does not hold Shutdown past it; the links are closed
// by then, and the rest (the hook) is still owned by the node: a second
// Shutdown waits for it and returns nil (goleak checks that nothing is
// left when the tests end).
func TestShutdown_DeadlinePassedThenOwned(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	c := attach(t, root, "worker", actors.Config{Setup: typeSetup})
	release := make(chan struct{})
	hookDone := make(chan struct{})
	root.OnShutdown(func(context.Context) error { // ignores its ctx, like a stuck hook
		<-release
		close(hookDone)
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := root.Shutdown(ctx)
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > atOnce {
		t.Fatalf("Shutdown = %v after %v, want DeadlineExceeded at about 200ms", err, took)
	}
	if !closedWithin(c.link.Done(), atOnce) {
		t.Fatal("the child link is still up after Shutdown returned")
	}
	second := make(chan error, 1)
	go func() { second <- root.Shutdown(context.Background()) }()
	select {
	case err := <-second:
		t.Fatalf("second Shutdown returned %v while a hook still runs", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := recv(t, second, waitLong, "the second Shutdown"); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if !isClosed(hookDone) {
		t.Fatal("second Shutdown returned before the hook")
	}
}
