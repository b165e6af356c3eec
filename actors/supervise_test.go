package actors_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// fragileKind registers "fragile" in a context: an actor that counts the
// Pings since it (re)started, panics on Ping "panic", and reports each
// start on starts.
func fragileKind(starts chan<- string) func(*actors.Node) error {
	return func(n *actors.Node) error {
		n.RegisterKind("fragile", actor.PropsFromProducer(func() actor.Actor { return &fragile{starts: starts} }))
		return nil
	}
}

type fragile struct {
	starts chan<- string
	n      int
}

func (f *fragile) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		offer(f.starts, c.Self().Id)
	case *Ping:
		if m.Text == "panic" {
			panic("fragile: told to panic")
		}
		f.n++
		c.Respond(&Pong{Text: strconv.Itoa(f.n)})
	}
}

// guardian spawns one child in context ctx with node.ChildProps and reports
// its PID, what its strategy decided, and the Terminated it receives.
type guardian struct {
	node    *actors.Node
	ctx     uint32
	child   chan *actor.PID
	gone    chan *actor.Terminated
	reasons chan any
}

func (g *guardian) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		g.child <- c.Spawn(g.node.ChildProps(g.ctx, "fragile"))
	case *actor.Terminated:
		g.gone <- m
	}
}

func spawnGuardian(t *testing.T, root *actors.Node, ctx uint32, directive actor.Directive) *guardian {
	t.Helper()
	g := &guardian{node: root, ctx: ctx, child: make(chan *actor.PID, 1), gone: make(chan *actor.Terminated, 4),
		reasons: make(chan any, 4)}
	strategy := actor.NewOneForOneStrategy(10, time.Minute, func(reason any) actor.Directive {
		offer(g.reasons, reason)
		return directive
	})
	root.System().Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return g }, actor.WithSupervisor(strategy)))
	return g
}

func supervisedPair(t *testing.T) (root *actors.Node, c *child, starts chan string) {
	starts = make(chan string, 16)
	cfg := actors.Config{Setup: setups(typeSetup, fragileKind(starts))}
	root = newRoot(t, cfg)
	c = attach(t, root, "remote", cfg)
	return root, c, starts
}

func ask(t *testing.T, root *actors.Node, pid *actor.PID, text string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{Text: text})
	if err != nil {
		return "", err
	}
	return pong.Text, nil
}

// panicReason waits for the strategy to see a failure and checks that it
// carries the panic value and the stack of the panic.
func panicReason(t *testing.T, g *guardian, child *actor.PID) {
	t.Helper()
	reason := recv(t, g.reasons, waitLong, "failure at the parent's strategy")
	var pe *actors.PanicError
	if err, ok := reason.(error); !ok || !errors.As(err, &pe) {
		t.Fatalf("reason %T %v, want *actors.PanicError", reason, reason)
	}
	if pe.Value != "fragile: told to panic" || pe.Actor != child.Id || pe.Message != "*actors_test.Ping" {
		t.Fatalf("PanicError %+v", pe)
	}
	if !strings.Contains(pe.Stack, "(*fragile).Receive") {
		t.Fatalf("stack does not show the panic site:\n%s", pe.Stack)
	}
}

func TestSupervise_RemoteChildRestart(t *testing.T) {
	root, c, starts := supervisedPair(t)
	g := spawnGuardian(t, root, c.link.ID, actor.RestartDirective)
	child := recv(t, g.child, waitLong, "child PID")
	if child.Address != actors.Address(c.link.ID) {
		t.Fatalf("child %v does not live in context %d", child, c.link.ID)
	}
	recv(t, starts, waitLong, "child started")
	for i := 1; i <= 2; i++ {
		if n, err := ask(t, root, child, "count"); err != nil || n != strconv.Itoa(i) {
			t.Fatalf("count %d: %q, %v", i, n, err)
		}
	}
	root.Send(child, &Ping{Text: "panic"})
	panicReason(t, g, child)
	recv(t, starts, waitLong, "child restarted in its context")
	// Restarted: a fresh actor instance state, same PID.
	if n, err := ask(t, root, child, "count"); err != nil || n != "1" {
		t.Fatalf("after restart: %q, %v", n, err)
	}
}

func TestSupervise_RemoteChildResume(t *testing.T) {
	root, c, starts := supervisedPair(t)
	g := spawnGuardian(t, root, c.link.ID, actor.ResumeDirective)
	child := recv(t, g.child, waitLong, "child PID")
	recv(t, starts, waitLong, "child started")
	if _, err := ask(t, root, child, "count"); err != nil {
		t.Fatal(err)
	}
	root.Send(child, &Ping{Text: "panic"})
	panicReason(t, g, child)
	// Resumed: state kept, no new start.
	if n, err := ask(t, root, child, "count"); err != nil || n != "2" {
		t.Fatalf("after resume: %q, %v", n, err)
	}
	select {
	case s := <-starts:
		t.Fatalf("resumed child restarted: %s", s)
	default:
	}
}

func TestSupervise_RemoteChildStop(t *testing.T) {
	root, c, starts := supervisedPair(t)
	g := spawnGuardian(t, root, c.link.ID, actor.StopDirective)
	child := recv(t, g.child, waitLong, "child PID")
	recv(t, starts, waitLong, "child started")
	root.Send(child, &Ping{Text: "panic"})
	panicReason(t, g, child)
	term := recv(t, g.gone, waitLong, "Terminated of the stopped child")
	if term.Who.Id != child.Id || term.Who.Address != child.Address {
		t.Fatalf("Terminated %v, want %v", term, child)
	}
	if _, err := ask(t, root, child, "count"); !errors.Is(err, actors.ErrNoActor) {
		t.Fatalf("stopped child answered: %v", err)
	}
}

func TestSupervise_RemoteChildEscalate(t *testing.T) {
	root, c, starts := supervisedPair(t)
	escalated := make(chan any, 4)
	guardians := make(chan *guardian, 1)
	topGone := make(chan *actor.Terminated, 1)
	top := actor.NewOneForOneStrategy(10, time.Minute, func(reason any) actor.Directive {
		offer(escalated, reason)
		return actor.StopDirective
	})
	root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
		switch m := ac.Message().(type) {
		case *actor.Started:
			g := &guardian{node: root, ctx: c.link.ID, child: make(chan *actor.PID, 1), gone: make(chan *actor.Terminated, 4),
				reasons: make(chan any, 4)}
			strategy := actor.NewOneForOneStrategy(10, time.Minute, func(reason any) actor.Directive {
				offer(g.reasons, reason)
				return actor.EscalateDirective
			})
			ac.Spawn(actor.PropsFromProducer(func() actor.Actor { return g }, actor.WithSupervisor(strategy)))
			guardians <- g
		case *actor.Terminated:
			topGone <- m
		}
	}, actor.WithSupervisor(top)))
	g := recv(t, guardians, waitLong, "guardian")
	child := recv(t, g.child, waitLong, "child PID")
	recv(t, starts, waitLong, "child started")
	root.Send(child, &Ping{Text: "panic"})
	panicReason(t, g, child)
	reason := recv(t, escalated, waitLong, "escalated failure")
	var pe *actors.PanicError
	if err, ok := reason.(error); !ok || !errors.As(err, &pe) {
		t.Fatalf("escalated reason %T %v", reason, reason)
	}
	// The top strategy stopped the guardian. It can finish stopping only
	// once its remote child has stopped and said so across the link.
	recv(t, topGone, waitLong, "guardian stopped")
	if _, err := ask(t, root, child, "count"); !errors.Is(err, actors.ErrNoActor) {
		t.Fatalf("remote child outlived its parent: %v", err)
	}
}

// When the child's context dies, the parent receives Terminated with
// AddressTerminated and no longer counts the child among its children.
func TestSupervise_ContextDeathTerminatesRemoteChildren(t *testing.T) {
	root, c, starts := supervisedPair(t)
	g := spawnGuardian(t, root, c.link.ID, actor.RestartDirective)
	child := recv(t, g.child, waitLong, "child PID")
	recv(t, starts, waitLong, "child started")
	c.kill()
	term := recv(t, g.gone, waitLong, "Terminated after the context died")
	if term.Why != actor.TerminatedReason_AddressTerminated || term.Who.Id != child.Id {
		t.Fatalf("Terminated %v, want AddressTerminated of %v", term, child)
	}
}

// A remote spawn that fails in the child's context (unknown kind) ends as
// the child's Terminated at the parent.
func TestSupervise_RemoteSpawnFailureTerminates(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	c := attach(t, root, "kindless", actors.Config{Setup: typeSetup})
	gone := make(chan *actor.Terminated, 1)
	root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
		switch m := ac.Message().(type) {
		case *actor.Started:
			ac.Spawn(root.ChildProps(c.link.ID, "no-such-kind"))
		case *actor.Terminated:
			gone <- m
		}
	}))
	term := recv(t, gone, waitLong, "Terminated of a child that could not start")
	if term.Why != actor.TerminatedReason_NotFound {
		t.Fatalf("Terminated %v, want NotFound", term)
	}
}

// A sibling context cannot restart (or resume) another parent's remote
// child: the directive is dropped, the child keeps its state.
func TestSupervise_DirectiveFromNonParentDropped(t *testing.T) {
	root, c, starts := supervisedPair(t)
	g := spawnGuardian(t, root, c.link.ID, actor.RestartDirective)
	child := recv(t, g.child, waitLong, "child PID")
	recv(t, starts, waitLong, "child started")
	if n, err := ask(t, root, child, "count"); err != nil || n != "1" {
		t.Fatalf("count: %q, %v", n, err)
	}
	p, _ := attachRaw(t, root, "sibling")
	for _, op := range []uint8{6, 7} { // restart, resume
		p.send(p.spec(wire.KindSystem, c.link.ID), rawSysMsg{Op: op, Target: child.Id})
	}
	p.barrier(c.link.ID)
	if n, err := ask(t, root, child, "count"); err != nil || n != "2" {
		t.Fatalf("after forged directives: %q, %v (want the state kept)", n, err)
	}
	select {
	case s := <-starts:
		t.Fatalf("forged restart obeyed: %s started again", s)
	default:
	}
}

// A failure report for an actor that has no remote child in the sender's
// context never reaches that actor's strategy.
func TestSupervise_ForgedFailureDropped(t *testing.T) {
	root, c, starts := supervisedPair(t)
	g := spawnGuardian(t, root, c.link.ID, actor.RestartDirective)
	child := recv(t, g.child, waitLong, "child PID")
	recv(t, starts, waitLong, "child started")
	parentID := strings.TrimPrefix(child.Id, actors.Address(0)+"/")
	parentID = parentID[:strings.LastIndex(parentID, "/")]
	p, _ := attachRaw(t, root, "forger")
	// Claims the real child's ID but from the wrong context, then a child
	// that does not exist, from the right context for the forger.
	p.send(p.spec(wire.KindSystem, 0), rawSysMsg{Op: 5, Target: parentID, PeerCtx: c.link.ID, PeerID: child.Id})
	p.send(p.spec(wire.KindSystem, 0), rawSysMsg{Op: 5, Target: parentID, PeerCtx: p.id, PeerID: child.Id})
	p.barrier(0)
	select {
	case r := <-g.reasons:
		t.Fatalf("forged failure reached the strategy: %v", r)
	case <-time.After(100 * time.Millisecond): // the guardian's mailbox runs on its own goroutine
	}
	if n, err := ask(t, root, child, "count"); err != nil || n != "1" {
		t.Fatalf("child disturbed: %q, %v", n, err)
	}
}
