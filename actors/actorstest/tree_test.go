package actorstest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"go.uber.org/goleak"
)

type (
	Ping struct{ Text string }
	Pong struct{ Text, From string }
)

// setup registers the messages and an "echo" kind that answers a Ping
// with a Pong naming its context.
func setup(n *actors.Node) error {
	if err := actors.RegisterType[Ping](n, "actorstest_test.Ping"); err != nil {
		return err
	}
	if err := actors.RegisterType[Pong](n, "actorstest_test.Pong"); err != nil {
		return err
	}
	n.RegisterKind("echo", actor.PropsFromFunc(func(c actor.Context) {
		if p, ok := c.Message().(*Ping); ok {
			c.Respond(&Pong{Text: p.Text, From: n.Name()})
		}
	}))
	return nil
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func spawnEcho(t *testing.T, tree *actorstest.Tree, name string) *actor.PID {
	t.Helper()
	pid, err := tree.Root().SpawnRemote(ctxFor(t), tree.Context(name).ID(), "echo", "echo")
	if err != nil {
		t.Fatalf("spawn in %s: %v", name, err)
	}
	return pid
}

// shape is a root with two children, the first with a child of its own
// over kernel pipes.
func shape() actorstest.Shape {
	return actorstest.Shape{Setup: setup, Children: []actorstest.Shape{
		{Name: "a", Children: []actorstest.Shape{{Name: "a1", Pipe: actorstest.OSPipe}}},
		{Name: "b"},
	}}
}

func TestNew_EveryContextAnswers(t *testing.T) {
	tree := actorstest.New(t, shape())
	var names []string
	for _, c := range tree.Contexts() {
		names = append(names, c.Name())
	}
	if want := []string{"root", "a", "a1", "b"}; len(names) != 4 || names[0] != want[0] || names[2] != want[2] || names[3] != want[3] {
		t.Fatalf("contexts %v, want %v", names, want)
	}
	if tree.Context("a1").Parent != tree.Context("a") || tree.Context("a").Link() == nil || tree.Contexts()[0].Link() != nil {
		t.Fatal("parents and links not as shaped")
	}
	pids := map[string]*actor.PID{}
	for _, name := range []string{"a", "a1", "b"} {
		pid := spawnEcho(t, tree, name)
		pids[name] = pid
		pong, err := actors.Request[*Pong](ctxFor(t), tree.Root(), pid, &Ping{Text: "hi"})
		if err != nil || pong.From != name {
			t.Fatalf("root -> %s: %+v, %v", name, pong, err)
		}
	}
	// a1 (under a) reaches b (under the root) through the tree.
	pong, err := actors.Request[*Pong](ctxFor(t), tree.Node("a1"), pids["b"], &Ping{Text: "cousin"})
	if err != nil || pong.From != "b" {
		t.Fatalf("a1 -> b: %+v, %v", pong, err)
	}
}

// Cut is a process death: the subtree behind the link is dead at once,
// the rest of the tree goes on.
func TestCut_SubtreeDead(t *testing.T) {
	tree := actorstest.New(t, shape())
	a1, b := spawnEcho(t, tree, "a1"), spawnEcho(t, tree, "b")
	a := tree.Context("a")
	a.Cut()
	select {
	case <-a.Link().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the root did not see the cut link")
	}
	if _, err := actors.Request[*Pong](ctxFor(t), tree.Root(), a1, &Ping{}); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("request behind the cut: %v, want ErrContextDead", err)
	}
	select {
	case <-a.Node.Stopping():
	case <-time.After(10 * time.Second):
		t.Fatal("the cut context did not stop")
	}
	if _, err := actors.Request[*Pong](ctxFor(t), tree.Root(), b, &Ping{}); err != nil {
		t.Fatalf("sibling after the cut: %v", err)
	}
	a.Cut() // idempotent
}

// A child's own Setup replaces the inherited one in its subtree; a
// Config is inherited with it.
func TestShape_SetupAndConfigInheritance(t *testing.T) {
	only := func(n *actors.Node) error {
		if err := setup(n); err != nil {
			return err
		}
		n.RegisterKind("special", actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*Ping); ok {
				c.Respond(&Pong{From: "special"})
			}
		}))
		return nil
	}
	cfg := &actors.Config{HeartbeatInterval: -1, HeartbeatTimeout: -1}
	tree := actorstest.New(t, actorstest.Shape{Setup: setup, Config: cfg, Children: []actorstest.Shape{
		{Name: "plain"}, {Name: "special", Setup: only, Children: []actorstest.Shape{{}}},
	}})
	root := tree.Root()
	if _, err := root.SpawnRemote(ctxFor(t), tree.Context("plain").ID(), "special", ""); err == nil {
		t.Fatal("a kind registered only in another subtree was spawned")
	}
	grandchild := tree.Context("special.1")
	if grandchild == nil {
		t.Fatalf("default name: contexts %v", tree.Contexts())
	}
	pid, err := root.SpawnRemote(ctxFor(t), grandchild.ID(), "special", "")
	if err != nil {
		t.Fatalf("inherited Setup: %v", err)
	}
	if _, err := actors.Request[*Pong](ctxFor(t), root, pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
}

func TestStart_DuplicateName(t *testing.T) {
	defer goleak.VerifyNone(t, leakIgnores()...)
	_, err := actorstest.Start(ctxFor(t), actorstest.Shape{Children: []actorstest.Shape{{Name: "x"}, {Name: "x"}}})
	if err == nil {
		t.Fatal("two contexts named x accepted")
	}
}

// Close shuts everything down: no goroutine is left.
func TestClose_LeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, leakIgnores()...)
	tree, err := actorstest.Start(ctxFor(t), shape())
	if err != nil {
		t.Fatal(err)
	}
	pid := spawnEcho(t, tree, "a1")
	if _, err := actors.Request[*Pong](ctxFor(t), tree.Root(), pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
	if err := tree.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if err := tree.Close(ctxFor(t)); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// leakIgnores: protoactor's dead-letter throttle outlives an actor system
// for about a second, and nothing stops it.
func leakIgnores() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottleWithLogger.func1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"),
	}
}
