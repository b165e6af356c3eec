package actors_test

// Scoped DEL_ROUTE (Mitogen's egress IDs, route/egress.go): a death goes
// up to the root always, and down only to the child links whose subtrees
// talked with the dead context.

import (
	"fmt"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// delRouteNames reports whether f is a DEL_ROUTE naming context id.
func delRouteNames(t testing.TB, f wire.Frame, id uint32) bool {
	t.Helper()
	if f.Header().Kind() != wire.KindDelRoute {
		return false
	}
	var u rawRouteUpdate
	if err := wire.Unmarshal(f.Body(), &u); err != nil {
		t.Fatalf("bad DEL_ROUTE body: %v", err)
	}
	for _, x := range u.IDs {
		if x == id {
			return true
		}
	}
	return false
}

// deathsUntil reads the raw peer's frames up to the DEL_ROUTE naming
// context last, and reports whether a DEL_ROUTE naming context id came
// before it.
func deathsUntil(t testing.TB, p *rawPeer, id, last uint32) bool {
	t.Helper()
	named := false
	p.expect(waitLong, fmt.Sprintf("DEL_ROUTE for %d", last), func(f wire.Frame) bool {
		named = named || delRouteNames(t, f, id)
		return delRouteNames(t, f, last)
	})
	return named
}

// TestRouter_DelRouteScoped: root -> {m1 -> {victim, quiet1}, m2 ->
// {talker, quiet2}, x}. The talker watches an actor in the victim and has a
// request waiting there; the root watches it too; the quiet ones (raw
// peers) never talked to the victim, but did to x. When the victim's link
// breaks, the talker's watcher gets Terminated and its request fails at
// once, the root's watcher gets Terminated, and the quiet ones get no
// DEL_ROUTE for the victim: the next DEL_ROUTE they get names x, killed
// after the victim's death had been handled by m1 and m2. With
// Quotas.EgressIDs < 0 (no records: the flood of before) they do get it.
func TestRouter_DelRouteScoped(t *testing.T) {
	for _, c := range []struct {
		name      string
		egress    int
		wantQuiet bool
	}{{"scoped", 0, false}, {"flood", -1, true}} {
		t.Run(c.name, func(t *testing.T) {
			k := newKinds()
			// Heartbeats off: the raw peers answer no PING.
			cfg := actors.Config{Setup: setups(typeSetup, k.setup), Quotas: actors.Quotas{EgressIDs: c.egress}, HeartbeatInterval: -1}
			root := newRoot(t, cfg)
			m1 := attach(t, root, "m1", cfg)
			m2 := attach(t, root, "m2", cfg)
			x := attach(t, root, "x", cfg)
			victim := attach(t, m1.node, "victim", cfg)
			talker := attach(t, m2.node, "talker", cfg)
			quiet1, _ := attachRaw(t, m1.node, "quiet1")
			quiet2, _ := attachRaw(t, m2.node, "quiet2")
			// The grandchildren's routes reach the root by ADD_ROUTE, after
			// their attach returned.
			for _, id := range []uint32{victim.node.ID(), talker.node.ID()} {
				waitFor(t, waitLong, fmt.Sprintf("the root to route to context %d", id), func() bool { _, ok := root.Routes()[id]; return ok })
			}

			echo := spawnRemote(t, root, victim.node.ID(), "echo", "echo")
			hole := spawnRemote(t, root, victim.node.ID(), "blackhole", "hole")
			// Fresh PIDs for the talker: PIDs cache their Process per system.
			tEcho, tHole := actor.NewPID(echo.Address, echo.Id), actor.NewPID(hole.Address, hole.Id)
			ping(t, talker.node, tEcho, "hello")
			talkerEvents := make(chan watchEvent, 4)
			spawnWatcher(t, talker.node, tEcho, talkerEvents)
			rootEvents := make(chan watchEvent, 4)
			spawnWatcher(t, root, echo, rootEvents)
			pending := requestAsync(talker.node, tHole, &Ping{Text: "never answered"}, ctxLong)
			recv(t, k.swallow, waitLong, "the talker's request to arrive")
			for _, q := range []*rawPeer{quiet1, quiet2} { // talk to x, not to the victim
				q.send(q.spec(barrierKind, x.node.ID()), nil)
				q.expectDead("x's answer", func(d wire.DeadReply) bool { return d.TargetCtx == x.node.ID() })
			}
			m1Down, m2Down := subscribeContextDown(t, m1.node), subscribeContextDown(t, m2.node)

			victim.kill()
			if term := nextTerminated(t, talkerEvents, waitLong); term.Why != actor.TerminatedReason_AddressTerminated || !samePID(term.Who, echo) {
				t.Fatalf("talker's watcher: %+v", term)
			}
			out := recv(t, pending, waitLong, "the talker's request to fail")
			deadError(t, out.err, actors.ErrContextDead)
			if out.elapsed > atOnce*4 {
				t.Fatalf("the talker's request failed after %v, not at once", out.elapsed)
			}
			if term := nextTerminated(t, rootEvents, waitLong); term.Why != actor.TerminatedReason_AddressTerminated {
				t.Fatalf("root's watcher: %+v", term)
			}
			// m1 and m2 publish ContextDown after sending their DEL_ROUTEs.
			contextDownFor(t, m1Down, victim.node.ID())
			contextDownFor(t, m2Down, victim.node.ID())

			x.kill()
			for i, q := range []*rawPeer{quiet1, quiet2} {
				if got := deathsUntil(t, q, victim.node.ID(), x.node.ID()); got != c.wantQuiet {
					t.Errorf("quiet%d got a DEL_ROUTE for the victim: %v, want %v", i+1, got, c.wantQuiet)
				}
			}
		})
	}
}

// TestRouter_DelRouteForTheTalkerOnly: of two contexts behind one
// intermediate, only the one that sent to a context (a one-way message,
// no reply) learns of its death; the context that was sent to later by
// the other one is answered IS_DEAD by the hop that knows.
func TestRouter_DelRouteForTheTalkerOnly(t *testing.T) {
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup), HeartbeatInterval: -1} // raw peers answer no PING
	root := newRoot(t, cfg)
	far := attach(t, root, "far", cfg)
	mid := attach(t, root, "mid", cfg)
	talker, _ := attachRaw(t, mid.node, "talker")
	quiet, _ := attachRaw(t, mid.node, "quiet")
	hole := spawnRemote(t, root, far.node.ID(), "blackhole", "hole")
	talker.writeRaw(talker.userFrame(talker.spec(wire.KindUser, far.node.ID()), hole.Id, &Ping{Text: "one way"}))
	recv(t, k.swallow, waitLong, "the one-way message")
	probe := attach(t, root, "probe", cfg) // both talk to it: the marker death
	for _, q := range []*rawPeer{talker, quiet} {
		q.send(q.spec(barrierKind, probe.node.ID()), nil)
		q.expectDead("probe's answer", func(d wire.DeadReply) bool { return d.TargetCtx == probe.node.ID() })
	}
	midDown := subscribeContextDown(t, mid.node)
	far.kill()
	contextDownFor(t, midDown, far.node.ID())
	probe.kill()
	if !deathsUntil(t, talker, far.node.ID(), probe.node.ID()) {
		t.Fatal("the talker got no DEL_ROUTE for the context it sent to")
	}
	if deathsUntil(t, quiet, far.node.ID(), probe.node.ID()) {
		t.Fatal("the quiet sibling got a DEL_ROUTE for a context it never talked to")
	}
	// A late send from the quiet one: the root knows, and answers IS_DEAD.
	quiet.writeRaw(quiet.userFrame(quiet.spec(wire.KindUser, far.node.ID()), hole.Id, &Ping{Text: "late"}))
	d := quiet.expectDead("IS_DEAD for the late send", func(d wire.DeadReply) bool { return d.TargetCtx == far.node.ID() })
	if d.Code != wire.DeadUnreachable {
		t.Fatalf("late send answered %+v", d)
	}
}

// TestRouter_EgressRecordsBomb: a hostile child sends frames to 10,000
// made-up contexts, each of which its parent forwards toward the root: the
// parent keeps at most Quotas.EgressIDs records for its link, then floods
// it (the child gets every DEL_ROUTE, as before scoping); a well-behaved
// sibling keeps its scoped DEL_ROUTE, and the records are freed with the
// link.
func TestRouter_EgressRecordsBomb(t *testing.T) {
	const bound = 64
	k := newKinds()
	// Heartbeats off: the raw peers answer no PING, and the spray may take
	// longer than a heartbeat timeout under load.
	cfg := actors.Config{Setup: setups(typeSetup, k.setup), HeartbeatInterval: -1}
	root := newRoot(t, cfg)
	mcfg := cfg
	mcfg.Quotas.EgressIDs = bound
	mid := attach(t, root, "mid", mcfg)
	hostile, hlink := attachRaw(t, mid.node, "hostile")
	quiet, _ := attachRaw(t, mid.node, "quiet")
	for id := uint32(100000); id < 110000; id++ {
		hostile.tryWriteRaw(hostile.userFrame(hostile.spec(wire.KindUser, id), "x", &Ping{Text: "spray"}))
		if id%1000 == 0 {
			if n, _ := mid.node.EgressRecords(hostile.id); n > bound {
				t.Fatalf("%d egress records for the hostile link, bound %d", n, bound)
			}
		}
	}
	hostile.barrier(mid.node.ID())
	n, flooded := mid.node.EgressRecords(hostile.id)
	t.Logf("after 10,000 made-up destinations: %d records, flooded %v", n, flooded)
	if n != 0 || !flooded {
		t.Fatalf("hostile link: %d records, flooded %v; want 0 records and flooded", n, flooded)
	}
	probe := attach(t, root, "probe", cfg)
	quiet.send(quiet.spec(barrierKind, probe.node.ID()), nil)
	quiet.expectDead("probe's answer", func(d wire.DeadReply) bool { return d.TargetCtx == probe.node.ID() })
	// Flooding is mid's, for the deaths it learns of: one behind mid.
	sib := attach(t, mid.node, "sib", cfg)
	midDown := subscribeContextDown(t, mid.node)
	sib.kill()
	contextDownFor(t, midDown, sib.node.ID())
	probe.kill()
	if !deathsUntil(t, hostile, sib.node.ID(), sib.node.ID()) {
		t.Fatal("flooded link got no DEL_ROUTE for its sibling")
	}
	if deathsUntil(t, quiet, sib.node.ID(), probe.node.ID()) {
		t.Fatal("the well-behaved sibling got a DEL_ROUTE it never asked for")
	}
	_ = hostile.conn.Close()
	<-hlink.Done()
	if n, flooded := mid.node.EgressRecords(hostile.id); n != 0 || flooded {
		t.Fatalf("records of a link that went down: %d, flooded %v", n, flooded)
	}
}

// TestRouter_LateWatchOfAContextNeverTalkedTo: a context that never talked
// to another one is not told of its death; its first watch of an actor
// there is answered IS_DEAD by the hop that knows, from which it learns
// the death: the watcher gets Terminated (AddressTerminated), a later
// watch is answered at once, and a request fails with ErrContextDead.
func TestRouter_LateWatchOfAContextNeverTalkedTo(t *testing.T) {
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root := newRoot(t, cfg)
	far := attach(t, root, "far", cfg)
	mid := attach(t, root, "mid", cfg)
	late := attach(t, mid.node, "late", cfg)
	echo := spawnRemote(t, root, far.node.ID(), "echo", "echo")
	rootDown := subscribeContextDown(t, root)
	far.kill()
	contextDownFor(t, rootDown, far.node.ID())
	lateDown := subscribeContextDown(t, late.node)
	target := actor.NewPID(echo.Address, echo.Id) // fresh: PIDs cache their Process per system
	events := make(chan watchEvent, 4)
	spawnWatcher(t, late.node, target, events)
	if term := nextTerminated(t, events, waitLong); term.Why != actor.TerminatedReason_AddressTerminated {
		t.Fatalf("late watch: %+v", term)
	}
	contextDownFor(t, lateDown, far.node.ID())
	again := make(chan watchEvent, 4)
	spawnWatcher(t, late.node, actor.NewPID(echo.Address, echo.Id), again)
	if term := nextTerminated(t, again, waitLong); term.Why != actor.TerminatedReason_AddressTerminated {
		t.Fatalf("second late watch: %+v", term)
	}
	out := recv(t, requestAsync(late.node, actor.NewPID(echo.Address, echo.Id), &Ping{Text: "late"}, ctxLong), waitLong, "late request")
	deadError(t, out.err, actors.ErrContextDead)
}
