package spawn_test

import (
	"context"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

// TestVia_SupervisorRestartsAViaChild: a supervisor at the root holds a
// context started through an intermediate; when it is killed (through the
// intermediate), the supervisor starts a new incarnation there, a child of
// the same intermediate.
func TestVia_SupervisorRestartsAViaChild(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	ctx := testCtx(t, time.Minute)
	sup, err := supervision.Start(ctx, root, supervision.Config{Name: "via", Children: []supervision.ContextSpec{{
		Name: "w", Restart: supervision.Permanent, Actors: []supervision.ActorSpec{{Kind: "echo", Name: "echo"}},
		Start: func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
			return spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second, Via: a}})
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sup.Stop(testCtx(t, 20*time.Second)) })
	if err := sup.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := sup.Child("w")
	if got := echoPid(t, root, first.Context); ppid(t, got) != a.Pid() {
		t.Fatalf("first incarnation runs under %d, want the intermediate %d", ppid(t, got), a.Pid())
	}
	if err := first.Context.Kill(); err != nil {
		t.Fatal(err)
	}
	for {
		info, _ := sup.Child("w")
		if info.Up && info.Incarnation > first.Incarnation {
			if info.Context.ID() == first.Context.ID() {
				t.Fatalf("restart reused context ID %d", info.ID)
			}
			if got := echoPid(t, root, info.Context); ppid(t, got) != a.Pid() {
				t.Fatalf("restarted incarnation runs under %d, want the intermediate %d", ppid(t, got), a.Pid())
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("not restarted: %+v", info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
