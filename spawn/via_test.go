package spawn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
)

// ViaAsk makes the context that runs it ask context Hop to start a local
// child (a hostile child's attempt when Hop is not its descendant).
type (
	ViaAsk   struct{ Hop uint32 }
	ViaAsked struct {
		Refused, NotFound bool
		Err               string
	}
)

// viaTestSetup registers, in every context, the function with which the
// tests make a context ask another one for a via start.
func viaTestSetup(n *actors.Node) error {
	ep, err := calls.New(n, calls.Config{})
	if err != nil {
		return err
	}
	return calls.Handle(ep, "test.via.ask", func(ctx context.Context, r *ViaAsk) (*ViaAsked, error) {
		c, err := spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: "smuggled", Via: spawn.ContextID(r.Hop)}})
		if err == nil {
			_ = c.Kill()
			return &ViaAsked{}, nil
		}
		return &ViaAsked{Refused: errors.Is(err, calls.ErrRefused), NotFound: errors.Is(err, calls.ErrNotFound), Err: err.Error()}, nil
	})
}

func viaLocal(t *testing.T, root *actors.Node, via spawn.Hop, name string) *spawn.Context {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second, Via: via}})
	if err != nil {
		t.Fatalf("start %s via %d: %v", name, via.ID(), err)
	}
	return c
}

// echoPid asks c's echo actor for its process ID.
func echoPid(t *testing.T, root *actors.Node, c spawn.Child) int {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	pid, err := c.Spawn(ctx, "echo", "")
	if err != nil {
		t.Fatalf("spawn echo in %s: %v", c.Name(), err)
	}
	pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 1})
	if err != nil {
		t.Fatalf("ping %s: %v", c.Name(), err)
	}
	return pong.Pid
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	p, _ := strconv.Atoi(f[1])
	return p
}

// TestVia_LocalChainOfThree: root -> a -> b -> c, b started through a and
// c through b (a via-child as the hop): each process is its hop's child,
// each is reached from the root, and Shutdown through the hops works.
func TestVia_LocalChainOfThree(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	c := viaLocal(t, root, b, "c")
	ctx := testCtx(t, 30*time.Second)
	for _, tc := range []struct {
		child  *spawn.Context
		parent int
		via    uint32
	}{{b, a.Pid(), a.ID()}, {c, b.Pid(), b.ID()}} {
		got := echoPid(t, root, tc.child)
		if got != tc.child.Pid() || ppid(t, got) != tc.parent {
			t.Fatalf("%s: process %d (handle says %d), parent %d; want parent %d", tc.child.Name(), got, tc.child.Pid(), ppid(t, got), tc.parent)
		}
		if info := tc.child.Info(); info.Via != tc.via || info.Method != "local" {
			t.Fatalf("%s: info %+v, want via %d", tc.child.Name(), info, tc.via)
		}
		if _, ok := root.Routes()[tc.child.ID()]; !ok {
			t.Fatalf("root has no route to %s (%d): %v", tc.child.Name(), tc.child.ID(), root.Routes())
		}
	}
	// Shutdown of the middle one takes its own child first.
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown b: %v", err)
	}
	for _, x := range []*spawn.Context{b, c} {
		<-x.Dead()
		if err := x.Wait(ctx); err != nil {
			t.Fatalf("wait %s: %v, want exit status 0", x.Name(), err)
		}
		if err := x.Signal(ctx, runner.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Fatalf("signal after the end of %s: %v", x.Name(), err)
		}
		if err := x.Kill(); err != nil {
			t.Fatalf("kill after the end: %v", err)
		}
	}
	if err := c.Shutdown(ctx); err != nil { // after its death: nothing to do
		t.Fatalf("shutdown of a dead c: %v", err)
	}
}

// TestVia_SignalAndExitStatus: a SIGKILL sent through the intermediate
// kills the child; the root sees it die with the status, and Wait and
// ExitStatus read 137, also when the intermediate has dropped the dead
// child for its recorded end (a later start sweeps it).
func TestVia_SignalAndExitStatus(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	ctx := testCtx(t, 30*time.Second)
	if err := b.Signal(ctx, runner.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.Dead()
	if !errors.Is(b.DeadReason(), actors.ErrContextDead) {
		t.Fatalf("dead reason %v", b.DeadReason())
	}
	_ = viaLocal(t, root, a, "b2")
	code, ok := spawn.ExitStatus(b.Wait(ctx))
	if !ok || code != 137 {
		t.Fatalf("exit status %d, %v; want 137 (wait: %v)", code, ok, b.Wait(ctx))
	}
	if code, ok := spawn.ExitStatus(b.DeadReason()); !ok || code != 137 {
		t.Fatalf("dead reason %v: status %d, %v; want 137", b.DeadReason(), code, ok)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown after our own kill: %v", err)
	}
}

// TestVia_KillIntermediate: killing the intermediate raises IS_DEAD at
// the root for the contexts behind it, and they exit (no orphans), the
// one started with Pdeathsig and the one behind it.
func TestVia_KillIntermediate(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	c := viaLocal(t, root, b, "c")
	pids := []int{echoPid(t, root, b), echoPid(t, root, c)}
	ctx := testCtx(t, 30*time.Second)
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*spawn.Context{b, c} {
		select {
		case <-x.Dead():
		case <-ctx.Done():
			t.Fatalf("%s not declared dead", x.Name())
		}
		if !errors.Is(x.DeadReason(), actors.ErrContextDead) {
			t.Fatalf("%s: dead reason %v", x.Name(), x.DeadReason())
		}
		if err := x.Wait(ctx); err == nil {
			t.Fatalf("%s: Wait nil after its intermediate's death", x.Name())
		}
	}
	for _, p := range pids {
		for alive(p) {
			if ctx.Err() != nil {
				_ = syscall.Kill(p, syscall.SIGKILL)
				t.Fatalf("process %d outlived its killed intermediate", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Via: a}}); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("start via a dead context: %v, want ErrContextDead", err)
	}
}

// TestVia_HostileAsks: a child asking its parent to start a context, and
// a context asking its sibling, are refused with calls.ErrRefused before
// anything starts; only ancestors may ask.
func TestVia_HostileAsks(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	s, _ := startChild(t, root, "sibling", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	ctx := testCtx(t, 30*time.Second)
	ep := calls.Of(root)
	for _, tc := range []struct {
		name     string
		asker    spawn.Child
		hop      uint32
		wantCode error
	}{
		{"child asks its parent", b, a.ID(), calls.ErrRefused},
		{"sibling", s, a.ID(), calls.ErrRefused},
		{"sibling's via-child", s, b.ID(), calls.ErrRefused},
		{"child asks the root", a, root.ID(), calls.ErrNotFound}, // the root offers no via service
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(root.Routes())
			got, err := calls.Call[ViaAsk, ViaAsked](ctx, ep, tc.asker.ID(), "test.via.ask", &ViaAsk{Hop: tc.hop})
			if err != nil {
				t.Fatal(err)
			}
			if (tc.wantCode == calls.ErrRefused && !got.Refused) || (tc.wantCode == calls.ErrNotFound && !got.NotFound) {
				t.Fatalf("asked %d from %s: %+v, want refused", tc.hop, tc.asker.Name(), got)
			}
			if got.Err == "" {
				t.Fatalf("asked %d from %s: started a context", tc.hop, tc.asker.Name())
			}
			if after := len(root.Routes()); after != before {
				t.Fatalf("routes %d -> %d: something started", before, after)
			}
		})
	}
}

// TestVia_StoppedIntermediateDeclaredDead: an intermediate that stops
// answering (SIGSTOP, as a cut link looks from the root) is declared dead
// by the heartbeat, and so is every context behind it, with the heartbeat
// as the cause; the stopped intermediate is killed, and the contexts
// behind it exit.
func TestVia_StoppedIntermediateDeclaredDead(t *testing.T) {
	logger := slogNew(newCapture())
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: logger,
		HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Shutdown(testCtx(t, 20*time.Second)) })
	a, _ := startChild(t, root, "a", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	c := viaLocal(t, root, b, "c")
	pids := []int{echoPid(t, root, b), echoPid(t, root, c)}
	ctx := testCtx(t, 30*time.Second)
	if err := a.Signal(ctx, runner.Signal("STOP")); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*spawn.Context{a, b, c} {
		select {
		case <-x.Dead():
		case <-ctx.Done():
			t.Fatalf("%s not declared dead", x.Name())
		}
		if !errors.Is(x.DeadReason(), actors.ErrHeartbeatTimeout) {
			t.Fatalf("%s: dead reason %v, want the heartbeat timeout", x.Name(), x.DeadReason())
		}
	}
	for _, p := range pids {
		for alive(p) {
			if ctx.Err() != nil {
				_ = syscall.Kill(p, syscall.SIGKILL)
				t.Fatalf("process %d outlived its stopped intermediate", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
