package spawn_test

// Acceptance probe of issue 11 ("The cause of a death is flattened to a
// string"): a request pending on a real child process that is SIGKILLed
// fails with an error that carries the exit status under errors.As and
// spawn.ExitStatus, in the parent (the local *spawn.ExitError) and one hop
// further (the exit status as a cause code over the wire). No error text
// is read.

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
)

// pendingThenKill sends a request that the echo at target answers only
// after a minute, lets it leave, calls kill, and returns the request's
// error.
func pendingThenKill(t *testing.T, root *actors.Node, target *actor.PID, kill func()) error {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	if _, err := actors.Request[*Pong](ctx, root, target, &Ping{}); err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	go func() {
		_, err := actors.Request[*Pong](ctx, root, target, &Ping{Delay: time.Minute})
		failed <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the request leave (either order must give the same cause)
	kill()
	select {
	case err := <-failed:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the pending request still waits 20s after SIGKILL")
		return nil
	}
}

// TestProbe_SIGKILLedChildRequestErrorIsExitError: the probe found
// errors.As(err, &*spawn.ExitError) false on the failed request.
func TestProbe_SIGKILLedChildRequestErrorIsExitError(t *testing.T) {
	root := newRoot(t, nil)
	c, pid := startChild(t, root, "victim", spawn.Pipes)
	err := pendingThenKill(t, root, pid, func() {
		if err := c.Signal(context.Background(), runner.SIGKILL); err != nil {
			t.Fatal(err)
		}
	})
	var ee *spawn.ExitError
	if !errors.Is(err, actors.ErrContextDead) || !errors.As(err, &ee) {
		t.Fatalf("request error %v (%T): want ErrContextDead and a *spawn.ExitError", err, err)
	}
	if code, ok := spawn.ExitStatus(err); !ok || code != 128+int(syscall.SIGKILL) {
		t.Fatalf("spawn.ExitStatus(request error) = %d, %v; want 137", code, ok)
	}
}

// TestProbe_SIGKILLedGrandchildRequestErrorHasExitStatus: the same one hop
// further: the root's request to a grandchild fails with ErrExited and the
// exit status, from the cause code the middle context sent in DEL_ROUTE.
func TestProbe_SIGKILLedGrandchildRequestErrorHasExitStatus(t *testing.T) {
	root := newRoot(t, nil)
	child, _ := startChild(t, root, "middle", spawn.Pipes)
	ctx := testCtx(t, 60*time.Second)
	sp, err := child.Spawn(ctx, "spawner", "spawner")
	if err != nil {
		t.Fatal(err)
	}
	gk, err := actors.Request[*Grandkid](ctx, root, sp, &SpawnGrandkid{})
	if err != nil || gk.Err != "" {
		t.Fatalf("grandchild: %v %s", err, gk.Err)
	}
	err = pendingThenKill(t, root, actor.NewPID(gk.Address, gk.ID), func() {
		if err := syscall.Kill(gk.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	})
	var de *actors.DeadError
	if !errors.As(err, &de) || !errors.Is(err, actors.ErrExited) {
		t.Fatalf("request error %v (%T): want a DeadError matching ErrExited", err, err)
	}
	if code, ok := spawn.ExitStatus(err); !ok || code != 128+int(syscall.SIGKILL) {
		t.Fatalf("spawn.ExitStatus(request error) = %d, %v; want 137", code, ok)
	}
}
