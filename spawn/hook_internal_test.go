package spawn

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn/internal/execrun"
	"github.com/spindle-go/spindle/spawn/runner"
)

// countHooks makes registerHook count the hooks still registered.
func countHooks(t *testing.T) *atomic.Int64 {
	var live atomic.Int64
	orig := registerHook
	registerHook = func(n *actors.Node, f func(context.Context) error) func() {
		live.Add(1)
		remove := orig(n, f)
		var once sync.Once
		return func() { once.Do(func() { live.Add(-1); remove() }) }
	}
	t.Cleanup(func() { registerHook = orig })
	return &live
}

func hookRoot(t *testing.T) *actors.Node {
	n, err := actors.NewNode(actors.Config{Name: "root"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// leaveByItself asks the child to stop over the link (nobody calls its
// Shutdown) and waits until it is dead and no hook is left.
func leaveByItself(t *testing.T, node *actors.Node, c Child, live *atomic.Int64) {
	t.Helper()
	if live.Load() != 1 {
		t.Fatalf("%d hooks registered for one child", live.Load())
	}
	if err := node.RequestShutdown(c.ID()); err != nil {
		t.Fatal(err)
	}
	<-c.Dead()
	deadline := time.Now().Add(5 * time.Second)
	for live.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the Node.OnShutdown hook of a child that exited by itself was not removed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLocal_HookReleasedWhenChildDiesByItself(t *testing.T) {
	live := countHooks(t)
	node := hookRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Local(ctx, node, Options{Common: Common{Name: "self-exit"}})
	if err != nil {
		t.Fatal(err)
	}
	leaveByItself(t, node, c, live)
}

func TestStart_HookReleasedWhenChildDiesByItself(t *testing.T) {
	live := countHooks(t)
	node := hookRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tg := &execrun.Target{Desc: runner.Info{Method: "exec", Host: "localhost"}, Signals: true}
	p, err := Start(ctx, node, tg, Common{Name: "self-exit"}, Bootstrap{CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	leaveByItself(t, node, p, live)
}

// TestLocal_KillTimerStoppedAtExit: the delayed kill armed for a child
// that broke the protocol is stopped when the child is reaped, instead of
// holding the child until it fires.
func TestLocal_KillTimerStoppedAtExit(t *testing.T) {
	node := hookRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Local(ctx, node, Options{Common: Common{Name: "timer"}})
	if err != nil {
		t.Fatal(err)
	}
	c.killAfter(time.Hour)
	if err := node.RequestShutdown(c.ID()); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if c.killTimer.Stop() {
		t.Fatal("the kill timer was still running after the child was reaped")
	}
}
