package calls_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn"
)

// Real child processes: this test binary re-executed (spawn.Main in
// TestMain runs the child context with the same setup).

func spawnLocal(root *actors.Node, name string) (*spawn.Context, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	return spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: name}})
}

func startChild(t *testing.T, root *actors.Node, name string) *spawn.Context {
	t.Helper()
	c, err := spawnLocal(root, name)
	if err != nil {
		t.Fatalf("spawn %s: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Shutdown(ctxWith(t, waitLong)) })
	return c
}

func TestProcess_CallsCancelAndRefusal(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	c := startChild(t, root, "proc")
	got, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), ep, c.ID(), "echo", &Echo{Text: "far"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Pid != c.Pid() || got.Pid == os.Getpid() || got.Ctx != c.ID() {
		t.Fatalf("answer %+v from pid %d, want the child's pid %d", got, got.Pid, c.Pid())
	}

	// The caller's cancellation reaches the handler in the other process.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := calls.Call[Block, Blocked](ctx, ep, c.ID(), "block", &Block{Key: "p"})
		done <- err
	}()
	waitFor(t, waitLong, "the child runs the call", func() bool { return ep.Stats().Pending == 1 })
	cancel()
	if err := recv(t, done, atOnce, "Call's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v, want context.Canceled", err)
	}
	e, err := calls.Call[WaitEnded, Ended](ctxWith(t, waitLong), ep, c.ID(), "waitEnded", &WaitEnded{})
	if err != nil || e.Key != "p" || !e.Canceled {
		t.Fatalf("the child's handler saw %+v, %v; want it cancelled", e, err)
	}

	// The child may not call the root's functions.
	code, err := calls.Call[Echo, Echo](ctxWith(t, waitLong), ep, c.ID(), "callUp", &Echo{})
	if err != nil || code.Text != string(calls.CodeRefused) {
		t.Fatalf("child's CALL_FUNCTION to the root: %+v, %v; want refused", code, err)
	}
}

// TestProcess_SIGKILLFailsPendingWithExitStatus: a call pending on a child
// process that is killed fails at once with the exit status as its cause.
func TestProcess_SIGKILLFailsPendingWithExitStatus(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	c := startChild(t, root, "victim")
	done := make(chan error, 1)
	go func() {
		_, err := calls.Call[Block, Blocked](ctxWith(t, ctxLong), ep, c.ID(), "block", &Block{Key: "k"})
		done <- err
	}()
	waitFor(t, waitLong, "the call is pending", func() bool { return ep.Stats().Pending == 1 })
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	err := recv(t, done, atOnce+waitLong/2, "Call's return after SIGKILL")
	var exit *spawn.ExitError
	if !errors.Is(err, actors.ErrContextDead) || !errors.As(err, &exit) {
		t.Fatalf("Call = %v, want ErrContextDead with a *spawn.ExitError", err)
	}
	if st, ok := spawn.ExitStatus(err); !ok || st != 137 {
		t.Fatalf("exit status %d, %v; want 137", st, ok)
	}
}

// TestProcess_Gather: fan-out over real processes, one of them killed.
func TestProcess_Gather(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	var ids []uint32
	var kids []*spawn.Context
	for _, n := range []string{"w1", "w2", "w3"} {
		c := startChild(t, root, n)
		kids = append(kids, c)
		ids = append(ids, c.ID())
	}
	_ = kids[2].Kill()
	<-kids[2].Dead()
	outs := calls.CallAll[Echo, Echoed](ctxWith(t, waitLong), ep, ids, "echo", &Echo{Text: "fleet"}, calls.GatherOptions{Timeout: waitLong})
	for i, o := range outs {
		if i < 2 && (o.Err != nil || o.Resp.Pid != kids[i].Pid()) {
			t.Errorf("%d: %+v %v", o.Context, o.Resp, o.Err)
		}
		if i == 2 && !errors.Is(o.Err, actors.ErrContextDead) {
			t.Errorf("killed %d: %v, want ErrContextDead", o.Context, o.Err)
		}
	}
}

// TestProcess_FloodFromChildBoundedAndFreed: a child process that floods
// a service of the root open to every context holds at most MaxPerCaller
// calls there; when it is killed, the root cancels them and frees all.
func TestProcess_FloodFromChildBoundedAndFreed(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	c := startChild(t, root, "flooder")
	const n = 50
	want := n - calls.DefaultMaxPerCaller
	got, err := calls.Call[Flood, Flooded](ctxWith(t, waitLong), ep, c.ID(), "flood", &Flood{N: n, Want: want})
	if err != nil {
		t.Fatal(err)
	}
	s := ep.Stats()
	t.Logf("child's flood of %d calls: %d busy, the root holds %+v", n, got.Busy, s)
	if got.Busy != want || s.Calls != calls.DefaultMaxPerCaller || s.Callers != 1 {
		t.Fatalf("%d busy, root holds %+v; want %d busy, %d calls", got.Busy, s, want, calls.DefaultMaxPerCaller)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "the flooder's calls freed", func() bool { s := ep.Stats(); return s.Calls == 0 && s.Callers == 0 && s.HeldBytes == 0 })
	for range calls.DefaultMaxPerCaller {
		if e := recv(t, stateOf(root).ended, waitLong, "a cancelled handler"); !e.Canceled {
			t.Fatalf("handler %+v not cancelled", e)
		}
	}
}
