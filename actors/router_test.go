package actors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// tree is root -> mid -> leaf. Only root and leaf register the test message
// types: mid must forward them by header alone.
type tree struct {
	root      *actors.Node
	mid, leaf *child
	k         *kinds
}

func newTree(t *testing.T) *tree {
	t.Helper()
	k := newKinds()
	root := newRoot(t, actors.Config{Setup: setups(typeSetup, k.setup)})
	mid := attach(t, root, "mid", actors.Config{}) // no types, no kinds
	leaf := attach(t, mid.node, "leaf", actors.Config{Setup: setups(typeSetup, k.setup)})
	waitFor(t, waitLong, "the root to learn the route to the leaf", func() bool {
		_, ok := root.Routes()[leaf.link.ID]
		return ok
	})
	return &tree{root: root, mid: mid, leaf: leaf, k: k}
}

// TestRouter_DepthTwo: the root reaches an actor two links away through a
// context that does not know the message types; IDs come from the root.
func TestRouter_DepthTwo(t *testing.T) {
	tr := newTree(t)
	mid, leaf := tr.mid, tr.leaf
	if mid.link.ID == 0 || leaf.link.ID == 0 || mid.link.ID == leaf.link.ID {
		t.Fatalf("context IDs mid=%d leaf=%d: want distinct non-zero IDs", mid.link.ID, leaf.link.ID)
	}
	if leaf.node.ID() != leaf.link.ID {
		t.Errorf("leaf node ID %d, its link says %d", leaf.node.ID(), leaf.link.ID)
	}
	if got, want := fmt.Sprint(leaf.node.Parents()), fmt.Sprint([]uint32{0, mid.link.ID}); got != want {
		t.Errorf("leaf Parents() = %s, want %s", got, want)
	}
	if name := tr.root.Routes()[leaf.link.ID]; name != "leaf" {
		t.Errorf("root knows the leaf as %q, want leaf", name)
	}
	for _, name := range mid.node.Registry().Names() {
		if name == "test.Ping" || name == "test.Pong" {
			t.Fatalf("mid registered %s; the test needs it not to", name)
		}
	}

	pid := spawnRemote(t, tr.root, leaf.link.ID, "echo", "")
	if pid.Address != actors.Address(leaf.link.ID) {
		t.Fatalf("spawned PID %s, want address %s", pidString(pid), actors.Address(leaf.link.ID))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	pong, err := actors.Request[*Pong](ctx, tr.root, pid, &actor.MessageEnvelope{
		Header: map[string]string{"hop": "2"}, Message: &Ping{Text: "deep"}})
	if err != nil {
		t.Fatalf("Request through mid: %v", err)
	}
	if pong.Text != "deep" {
		t.Errorf("Pong %q, want deep", pong.Text)
	}
	s := recv(t, tr.k.echoed, waitLong, "echo observation")
	if s.sender == nil || s.sender.Address != tr.root.Address() || s.header["hop"] != "2" {
		t.Errorf("leaf actor saw sender %s, headers %v", pidString(s.sender), s.header)
	}

	// The leaf can reach the root too (default route through its parent).
	rootEcho := tr.root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
		if m, ok := ac.Message().(*Ping); ok {
			ac.Respond(&Pong{Text: m.Text})
		}
	}))
	ping(t, leaf.node, actor.NewPID(rootEcho.Address, rootEcho.Id), "up")
}

// TestRouter_DepthTwoLeafDies: when the leaf's link breaks, its parent
// tells the root with DEL_ROUTE: the root's pending request fails at once,
// its watcher gets AddressTerminated, and the middle context keeps working.
func TestRouter_DepthTwoLeafDies(t *testing.T) {
	tr := newTree(t)
	downs := subscribeContextDown(t, tr.root)
	hole := spawnRemote(t, tr.root, tr.leaf.link.ID, "blackhole", "")
	echo := spawnRemote(t, tr.root, tr.leaf.link.ID, "echo", "")
	ev := make(chan watchEvent, 8)
	spawnWatcher(t, tr.root, echo, ev)
	ping(t, tr.root, echo, "watch is in place")

	pending := requestAsync(tr.root, hole, &Ping{Text: "wait"}, ctxLong)
	recv(t, tr.k.swallow, waitLong, "the blackhole to receive the request")
	broken := time.Now()
	tr.leaf.kill()

	out := recv(t, pending, ctxLong+time.Second, "the pending request")
	if took := time.Since(broken); took > atOnce {
		t.Errorf("pending request failed %v after the leaf died, want at once", took)
	}
	if de := deadError(t, out.err, actors.ErrContextDead); de.Reason == "" {
		t.Errorf("DeadError without reason: %v", de)
	}
	term := nextTerminated(t, ev, waitLong)
	if term.Why != actor.TerminatedReason_AddressTerminated || !samePID(term.Who, echo) {
		t.Errorf("Terminated{%s, %v}, want {%s, AddressTerminated}", pidString(term.Who), term.Why, pidString(echo))
	}
	if cd := contextDownFor(t, downs, tr.leaf.link.ID); cd.Name != "leaf" {
		t.Errorf("ContextDown.Name = %q, want leaf", cd.Name)
	}
	if _, ok := tr.root.Routes()[tr.leaf.link.ID]; ok {
		t.Error("root still routes to the dead leaf")
	}
	if _, ok := tr.root.Routes()[tr.mid.link.ID]; !ok {
		t.Error("root lost the route to the middle context")
	}
	// The middle context is alive: it answers a spawn request itself (it
	// has no kinds, so with a refusal rather than IS_DEAD).
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err := tr.root.SpawnRemote(ctx, tr.mid.link.ID, "echo", "")
	if err == nil || errors.Is(err, actors.ErrContextDead) || !strings.Contains(err.Error(), "unknown actor kind") {
		t.Errorf("spawn in the middle context: %v, want its own refusal of an unknown kind", err)
	}
}

// TestRouter_DepthTwoOrdering: nodedown ordering holds across a hop: the
// DEL_ROUTE for the leaf travels behind the leaf's messages.
func TestRouter_DepthTwoOrdering(t *testing.T) {
	const n = 1000
	tr := newTree(t)
	burst := spawnRemote(t, tr.root, tr.leaf.link.ID, "burst", "")
	type result struct {
		ticks int
		why   actor.TerminatedReason
	}
	results := make(chan result, 1)
	watching := make(chan struct{})
	props := actor.PropsFromFunc(func() actor.ReceiveFunc {
		count := 0
		return func(ac actor.Context) {
			switch m := ac.Message().(type) {
			case *actor.Started:
				ac.Watch(burst)
				close(watching)
			case *Tick:
				count++
			case *actor.Terminated:
				results <- result{count, m.Why}
			}
		}
	}())
	if _, err := tr.root.System().Root.SpawnNamed(props, "collector"); err != nil {
		t.Fatal(err)
	}
	recv(t, watching, waitLong, "the collector to watch")
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if _, err := actors.Request[*Pong](ctx, tr.root, burst, &Burst{N: n, To: "collector"}); err != nil {
		t.Fatalf("Burst: %v", err)
	}
	tr.leaf.kill()
	res := recv(t, results, waitLong, "Terminated at the collector")
	if res.ticks != n || res.why != actor.TerminatedReason_AddressTerminated {
		t.Errorf("collector saw %d of %d messages, then Terminated %v; want all, then AddressTerminated",
			res.ticks, n, res.why)
	}
}

// TestRouter_MidDiesTakesLeafDown: when the middle link breaks, the root
// declares both the middle context and everything behind it dead.
func TestRouter_MidDiesTakesLeafDown(t *testing.T) {
	tr := newTree(t)
	downs := subscribeContextDown(t, tr.root)
	echo := spawnRemote(t, tr.root, tr.leaf.link.ID, "echo", "")
	tr.mid.kill()
	contextDownFor(t, downs, tr.leaf.link.ID)
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	start := time.Now()
	_, err := tr.root.Request(ctx, echo, &Ping{})
	if took := time.Since(start); took > atOnce {
		t.Errorf("request to the leaf took %v", took)
	}
	deadError(t, err, actors.ErrContextDead)
	// mid lost its parent link, so it stops (its own link to the leaf is
	// closed when mid shuts down).
	if !closedWithin(tr.mid.node.Stopping(), waitLong) {
		t.Error("mid did not stop after its parent link broke")
	}
}

// TestRouter_SpoofedSource: a child may only send frames from itself (or
// from contexts that live behind it). Frames claiming another source or
// authority are dropped, and the link stays up.
func TestRouter_SpoofedSource(t *testing.T) {
	root, c, _ := pair(t)
	raw, rawLink := attachRaw(t, root, "mallory")
	got := make(chan string, 16)
	if _, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(ac actor.Context) {
		if m, ok := ac.Message().(*Ping); ok {
			got <- m.Text
		}
	}), "sink"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		src, auth uint32
	}{
		{"claims the root", 0, 0},
		{"claims a sibling", c.link.ID, c.link.ID},
		{"claims an unknown context", 9999, 9999},
		{"own source, root authority", raw.id, 0},
		{"own source, sibling authority", raw.id, c.link.ID},
		{"sibling source, own authority", c.link.ID, raw.id},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			spoofed := raw.userFrame(wire.FrameSpec{Kind: wire.KindUser, Dst: 0, Src: tt.src, Auth: tt.auth},
				"sink", &Ping{Text: "spoofed"})
			raw.writeRaw(spoofed)
			raw.writeRaw(raw.userFrame(raw.spec(wire.KindUser, 0), "sink", &Ping{Text: "legit " + tt.name}))
			if text := recv(t, got, waitLong, "the legit message"); text != "legit "+tt.name {
				t.Fatalf("sink received %q first, want the legit message", text)
			}
			if isClosed(rawLink.Done()) {
				t.Fatalf("link closed after a spoofed frame: %v", rawLink.Err())
			}
		})
	}
	// Spoofed frames towards another child are dropped as well.
	echo := spawnRemote(t, root, c.link.ID, "echo", "")
	frame := raw.userFrame(wire.FrameSpec{Kind: wire.KindUser, Dst: c.link.ID, Src: 0, Auth: 0}, echo.Id, &Ping{Text: "x"})
	raw.writeRaw(frame)
	raw.barrier(0)
	ping(t, root, echo, "sibling fine")
}

// TestRouter_AddRouteForeignID: a child announcing, with ADD_ROUTE, a
// context that lives elsewhere (behind another child, the root itself) is
// refused; traffic keeps going to the real one.
func TestRouter_AddRouteForeignID(t *testing.T) {
	root, c, k := pair(t)
	raw, rawLink := attachRaw(t, root, "mallory")
	echo := spawnRemote(t, root, c.link.ID, "echo", "")

	raw.send(raw.spec(wire.KindAddRoute, 0), &rawRouteUpdate{IDs: []uint32{c.link.ID, 0}, Names: []string{"stolen", "root"}})
	raw.barrier(0)
	if isClosed(rawLink.Done()) {
		t.Fatalf("link closed: %v", rawLink.Err())
	}
	routes := root.Routes()
	if routes[c.link.ID] != "worker" {
		t.Errorf("root knows context %d as %q, want worker", c.link.ID, routes[c.link.ID])
	}
	if _, ok := routes[0]; ok {
		t.Error("root accepted a route to itself")
	}
	ping(t, root, echo, "to the real one")
	recv(t, k.echoed, waitLong, "the real echo")
	for _, f := range raw.drain() {
		if f.Header().Kind() == wire.KindUser {
			t.Errorf("raw child received a USER frame for context %d", f.Header().Dst())
		}
	}
	// Frames from the raw child claiming the sibling's ID are still dropped.
	got := make(chan string, 4)
	if _, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(ac actor.Context) {
		if m, ok := ac.Message().(*Ping); ok {
			got <- m.Text
		}
	}), "sink"); err != nil {
		t.Fatal(err)
	}
	raw.writeRaw(raw.userFrame(wire.FrameSpec{Kind: wire.KindUser, Dst: 0, Src: c.link.ID, Auth: c.link.ID}, "sink", &Ping{Text: "spoofed"}))
	raw.writeRaw(raw.userFrame(raw.spec(wire.KindUser, 0), "sink", &Ping{Text: "legit"}))
	if text := recv(t, got, waitLong, "legit"); text != "legit" {
		t.Errorf("sink received %q first", text)
	}
}

// TestRouter_AddRoutePreclaimsUnallocatedID: a child announcing context IDs
// the root has not handed out yet must not capture them: when the root
// later gives such an ID to a grandchild under another child, traffic for
// it must go to the real grandchild, not to the child that claimed it.
func TestRouter_AddRoutePreclaimsUnallocatedID(t *testing.T) {
	k := newKinds()
	root := newRoot(t, actors.Config{Setup: setups(typeSetup, k.setup)})
	a := attach(t, root, "a", actors.Config{Setup: setups(typeSetup, k.setup)})
	raw, _ := attachRaw(t, root, "mallory")

	// IDs are handed out in order; claim the next several.
	var claim []uint32
	for id := raw.id + 1; id <= raw.id+40; id++ {
		claim = append(claim, id)
	}
	raw.send(raw.spec(wire.KindAddRoute, 0), &rawRouteUpdate{IDs: claim})
	raw.barrier(0)

	leaf := attach(t, a.node, "leaf", actors.Config{Setup: setups(typeSetup, k.setup)})
	if leaf.link.ID <= raw.id || leaf.link.ID > raw.id+40 {
		t.Skipf("leaf got ID %d, outside the claimed range; allocation order changed", leaf.link.ID)
	}
	// The root cannot spawn there unless it routes to the real leaf.
	deadline := time.Now().Add(waitLong)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		pid, err := root.SpawnRemote(ctx, leaf.link.ID, "echo", "")
		cancel()
		for _, f := range raw.drain() {
			if f.Header().Dst() == leaf.link.ID {
				t.Fatalf("root routed a %s frame for context %d (the leaf under %q) to the child that "+
					"pre-claimed the ID with ADD_ROUTE", f.Header().Kind(), leaf.link.ID, "a")
			}
		}
		if err == nil {
			ping(t, root, pid, "reached the real leaf")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("root never reached the leaf: %v", err)
		}
	}
}

// TestRouter_DelRouteForeignID: a child cannot declare dead a context that
// does not live behind it.
func TestRouter_DelRouteForeignID(t *testing.T) {
	root, c, _ := pair(t)
	downs := subscribeContextDown(t, root)
	raw, _ := attachRaw(t, root, "mallory")
	echo := spawnRemote(t, root, c.link.ID, "echo", "")
	raw.send(raw.spec(wire.KindDelRoute, 0), &rawRouteUpdate{IDs: []uint32{c.link.ID, 0}, Reason: "forged"})
	raw.barrier(0)
	select {
	case cd := <-downs:
		t.Fatalf("root published ContextDown %+v on a forged DEL_ROUTE", cd)
	default:
	}
	ping(t, root, echo, "alive")
}

// TestRouter_NoRoute: a request to a context nobody knows fails at once.
func TestRouter_NoRoute(t *testing.T) {
	root, c, _ := pair(t)
	tests := []struct {
		name string
		from *actors.Node
		to   uint32
	}{
		{"root to unknown context", root, 777},
		{"child to unknown context", c.node, 778},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
			defer cancel()
			start := time.Now()
			_, err := tt.from.Request(ctx, actor.NewPID(actors.Address(tt.to), "x"), &Ping{})
			if took := time.Since(start); took > atOnce {
				t.Errorf("took %v", took)
			}
			deadError(t, err, actors.ErrContextDead)
		})
	}
}
