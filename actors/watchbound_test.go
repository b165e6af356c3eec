package actors_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// heapAfterGC returns the live heap after two collections.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// countWatchRefusals sends a barrier to dst and counts the dead replies
// with cause watch limit that arrive before its answer.
func (p *rawPeer) countWatchRefusals(dst uint32) int {
	p.t.Helper()
	p.send(p.spec(barrierKind, dst), nil)
	n := 0
	for {
		f, err := p.next(waitLong)
		if err != nil {
			p.t.Fatalf("raw peer: waiting for the barrier: %v", err)
		}
		if f.Header().Kind() != wire.KindDead {
			continue
		}
		d, err := wire.ParseDeadReply(f.Body())
		if err != nil {
			p.t.Fatal(err)
		}
		if d.Cause == wire.CauseWatchLimit && d.Code == wire.DeadRejected {
			n++
		}
		if strings.Contains(d.Reason, barrierKind.String()) {
			return n
		}
	}
}

// TestWatch_FloodBoundedAndFreedOnDeath: a child registers more remote
// watches on a root actor than its budget, with watcher IDs of the longest
// allowed length and some longer ones (the probe: 20,000 watches
// with 4 KiB IDs kept 96 MiB after the watcher died). The root holds at
// most Config.MaxRemoteWatches of them, refuses the rest with a typed dead
// reply, and frees them all when the child's context dies.
func TestWatch_FloodBoundedAndFreedOnDeath(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	sink, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Ping); ok {
			c.Respond(&Pong{Text: m.Text})
		}
	}), "sink")
	if err != nil {
		t.Fatal(err)
	}
	downs := subscribeContextDown(t, root)
	base := heapAfterGC()
	raw, link := attachRaw(t, root, "mallory")

	limit := actors.DefaultMaxRemoteWatches
	over, tooLong := 100, 20
	pad := strings.Repeat("w", actors.MaxWatchIDLen-8)
	for i := 0; i < limit+over; i++ {
		raw.send(raw.spec(wire.KindSystem, 0), &rawSysMsg{Op: rawOpWatch, Target: sink.Id, PeerCtx: raw.id,
			PeerID: fmt.Sprintf("%s%08d", pad, i)})
	}
	for i := 0; i < tooLong; i++ {
		raw.send(raw.spec(wire.KindSystem, 0), &rawSysMsg{Op: rawOpWatch, Target: sink.Id, PeerCtx: raw.id,
			PeerID: strings.Repeat("x", 4096) + fmt.Sprint(i)})
	}
	if got := raw.countWatchRefusals(0); got != over+tooLong {
		t.Errorf("%d watches refused with cause watch limit, want %d", got, over+tooLong)
	}
	if got := root.HeldWatches(); got != limit {
		t.Fatalf("root holds %d remote watches, want the limit %d", got, limit)
	}
	ping(t, root, sink, "watches registered") // the sink has handled its Watch messages
	held := int64(heapAfterGC()) - int64(base)
	t.Logf("heap with %d watches of %d-byte IDs held: %+d KiB", limit, actors.MaxWatchIDLen, held>>10)
	if held > 48<<20 {
		t.Errorf("heap grew by %d MiB with %d watches held, want at most 48 MiB", held>>20, limit)
	}

	_ = raw.conn.Close()
	recv(t, link.Done(), waitLong, "the link to close")
	contextDownFor(t, downs, raw.id)
	if got := root.HeldWatches(); got != 0 {
		t.Fatalf("root still holds %d remote watches of a dead context", got)
	}
	ping(t, root, sink, "watches removed") // the sink has handled the Unwatch messages
	after := int64(heapAfterGC()) - int64(base)
	t.Logf("heap after the watcher's context died: %+d KiB", after>>10)
	if after > 2<<20 {
		t.Errorf("heap still %d KiB above the start after the watcher's context died (held %d KiB)", after>>10, held>>10)
	}
}

// TestWatch_TerminatedForUnwatchedActorDropped: a child cannot post
// Terminated to a root actor that never watched the child's actors.
func TestWatch_TerminatedForUnwatchedActorDropped(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	events := make(chan watchEvent, 4)
	victim := root.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Terminated:
			events <- watchEvent{term: m}
		case *Ping:
			events <- watchEvent{ping: m.Text}
		}
	}))
	raw, _ := attachRaw(t, root, "mallory")
	raw.send(raw.spec(wire.KindSystem, 0), &rawSysMsg{Op: rawOpTerminated, Target: victim.Id, PeerCtx: raw.id,
		PeerID: "made-up", Why: int32(actor.TerminatedReason_Stopped)})
	raw.barrier(0)
	root.System().Root.Send(victim, &Ping{Text: "marker"})
	if ev := recv(t, events, waitLong, "the marker"); ev.term != nil {
		t.Fatalf("an actor that watched nothing got Terminated{%s}", pidString(ev.term.Who))
	}
}

// attachRawWith is attachRaw over a Transport that edit may change (set
// Isolated, a Reason hook).
func attachRawWith(t testing.TB, parent *actors.Node, name string, edit func(*actors.Transport)) (*rawPeer, *actors.ChildLink) {
	t.Helper()
	parentEnd, peerEnd := net.Pipe()
	type attached struct {
		l   *actors.ChildLink
		err error
	}
	res := make(chan attached, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		tr := actors.Transport{R: parentEnd, W: parentEnd, C: parentEnd}
		edit(&tr)
		l, err := parent.AttachChild(ctx, name, tr)
		res <- attached{l, err}
	}()
	r := wire.NewReader(peerEnd, 1<<20)
	hello := readParentHello(t, r)
	p := &rawPeer{t: t, conn: peerEnd, id: hello.AssignedID, parent: hello.ContextID, hello: hello,
		reg: wire.NewRegistry(), signal: make(chan struct{}, 1), done: make(chan struct{})}
	if err := typeSetupRegistry(p.reg); err != nil {
		t.Fatal(err)
	}
	p.writeRaw(childHello(hello, name))
	a := <-res
	if a.err != nil {
		t.Fatalf("AttachChild: %v", a.err)
	}
	go p.readLoop(r)
	t.Cleanup(func() {
		_ = p.conn.Close()
		<-p.done
	})
	return p, a.l
}

// TestRouter_UnidirectionalMode: with Config.Unidirectional (every child)
// or Transport.Isolated (one child), a child cannot reach its siblings nor
// they it: the middle context answers a dead reply (rejected, cause policy)
// and the message is never delivered. Children still reach their parent
// and the parent reaches every child.
func TestRouter_UnidirectionalMode(t *testing.T) {
	t.Run("Config.Unidirectional", func(t *testing.T) {
		k := newKinds()
		cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
		rootCfg := cfg
		rootCfg.Unidirectional = true
		root := newRoot(t, rootCfg)
		a := attach(t, root, "a", cfg)
		echo := spawnRemote(t, root, a.link.ID, "echo", "")
		raw, _ := attachRaw(t, root, "mallory")
		checkSiblingRefused(t, raw, a, echo, k)
		ping(t, root, echo, "the root still reaches its children")
		raw.barrier(0) // and the child its parent
	})
	t.Run("Transport.Isolated", func(t *testing.T) {
		k := newKinds()
		cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
		root := newRoot(t, cfg)
		a := attach(t, root, "a", cfg)
		b := attach(t, root, "b", cfg)
		echo := spawnRemote(t, root, a.link.ID, "echo", "")
		raw, _ := attachRawWith(t, root, "mallory", func(tr *actors.Transport) { tr.Isolated = true })
		checkSiblingRefused(t, raw, a, echo, k)
		ping(t, b.node, echo, "children that are not isolated still talk to each other")
		ping(t, root, echo, "the root still reaches its children")
	})
}

// checkSiblingRefused checks that raw (isolated from its siblings) cannot
// send to a's echo actor, nor a's context request an actor of raw's.
func checkSiblingRefused(t *testing.T, raw *rawPeer, a *child, echo *actor.PID, k *kinds) {
	t.Helper()
	raw.writeRaw(raw.userFrameFrom(raw.spec(wire.KindUser, a.link.ID), echo.Id, raw.id, "x", &Ping{Text: "across"}))
	d := raw.expectDead("the refusal", func(d wire.DeadReply) bool { return d.Target == echo.Id })
	if d.Code != wire.DeadRejected || d.Cause != wire.CausePolicy || d.TargetCtx != a.link.ID {
		t.Errorf("dead reply %+v, want rejected by policy for context %d", d, a.link.ID)
	}
	select {
	case s := <-k.echoed:
		t.Errorf("the sibling's echo got a Ping from %s", pidString(s.sender))
	case <-time.After(50 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	start := time.Now()
	_, err := a.node.Request(ctx, actor.NewPID(actors.Address(raw.id), "x"), &Ping{Text: "back"})
	de := deadError(t, err, actors.ErrRejected)
	if !errors.Is(err, actors.ErrRefused) || de.Cause != wire.CausePolicy {
		t.Errorf("request to the isolated child: %v (cause %v), want it to match ErrRefused", err, de.Cause)
	}
	if took := time.Since(start); took > atOnce {
		t.Errorf("the refused request took %v", took)
	}
}

// TestWatch_SubtreeFloodChargedToItsLink: a child that makes up contexts
// in its own subtree (IDs granted to it, announced with ADD_ROUTE) cannot
// multiply its watch budget: all the contexts behind one child link hold
// at most four times Config.MaxRemoteWatches together.
func TestWatch_SubtreeFloodChargedToItsLink(t *testing.T) {
	const perContext = 50
	root := newRoot(t, actors.Config{Setup: typeSetup, MaxRemoteWatches: perContext})
	sink, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "sink")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := attachRaw(t, root, "mallory")
	const fakes = 8
	first := allocBlock(t, raw, fakes)
	ids := make([]uint32, fakes)
	for i := range ids {
		ids[i] = first + uint32(i)
	}
	raw.send(raw.spec(wire.KindAddRoute, 0), rawRouteUpdate{IDs: ids, Names: make([]string, fakes)})
	waitFor(t, waitLong, "the root to route to the made-up contexts", func() bool {
		_, ok := root.Routes()[ids[fakes-1]]
		return ok
	})
	quota := subscribeQuota(t, root)
	for _, id := range ids {
		for i := 0; i < perContext; i++ {
			raw.send(wire.FrameSpec{Kind: wire.KindSystem, Dst: 0, Src: id, Auth: id},
				&rawSysMsg{Op: rawOpWatch, Target: sink.Id, PeerCtx: id, PeerID: fmt.Sprint("w", i)})
		}
	}
	refused := raw.countWatchRefusals(0)
	ev := recv(t, quota, waitLong, "a QuotaExceeded event")
	if !errors.Is(ev.Err, actors.ErrWatchLimit) || ev.Link != raw.id || ev.Kind != wire.KindSystem {
		t.Errorf("QuotaExceeded %+v, want ErrWatchLimit charged to link %d", ev, raw.id)
	}
	if got, want := root.HeldWatches(), 4*perContext; got != want {
		t.Errorf("the subtree holds %d watches, want the link's bound %d", got, want)
	}
	if want := fakes*perContext - 4*perContext; refused != want {
		t.Errorf("%d watches refused, want %d", refused, want)
	}
}
