package actors_test

import (
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
)

// TestWatch_AcrossContexts: a root actor watching actors in a child sees a
// normal stop as Terminated{Stopped}, the death of the child's link as
// Terminated{AddressTerminated} for every other watched actor, and a watch
// made after the death is answered AddressTerminated at once.
func TestWatch_AcrossContexts(t *testing.T) {
	root, c, _ := pair(t)
	first := spawnRemote(t, root, c.link.ID, "echo", "")
	second := spawnRemote(t, root, c.link.ID, "echo", "")
	third := spawnRemote(t, root, c.link.ID, "blackhole", "")

	ev1 := make(chan watchEvent, 8)
	ev2 := make(chan watchEvent, 8)
	ev3 := make(chan watchEvent, 8)
	spawnWatcher(t, root, first, ev1)
	spawnWatcher(t, root, second, ev2)
	spawnWatcher(t, root, third, ev3)
	// The watches travel as SYSTEM frames; a round trip to the child on the
	// same link makes sure they arrived before we stop anything.
	ping(t, root, second, "sync")

	// A normal stop.
	root.System().Root.Stop(first)
	term := nextTerminated(t, ev1, waitLong)
	if !samePID(term.Who, first) {
		t.Errorf("Terminated.Who = %s, want %s", pidString(term.Who), pidString(first))
	}
	if term.Why != actor.TerminatedReason_Stopped {
		t.Errorf("Terminated.Why = %v, want Stopped", term.Why)
	}

	// The child's link breaks.
	c.kill()
	for _, w := range []struct {
		pid *actor.PID
		ev  chan watchEvent
	}{{second, ev2}, {third, ev3}} {
		term := nextTerminated(t, w.ev, waitLong)
		if !samePID(term.Who, w.pid) {
			t.Errorf("Terminated.Who = %s, want %s", pidString(term.Who), pidString(w.pid))
		}
		if term.Why != actor.TerminatedReason_AddressTerminated {
			t.Errorf("Terminated.Why for %s = %v, want AddressTerminated", pidString(w.pid), term.Why)
		}
	}
	select {
	case ev := <-ev1:
		t.Errorf("watcher of the stopped actor got a second event %+v", ev)
	default:
	}

	// Watching after the death answers at once.
	late := make(chan watchEvent, 8)
	spawnWatcher(t, root, second, late)
	term = nextTerminated(t, late, atOnce)
	if term.Why != actor.TerminatedReason_AddressTerminated || !samePID(term.Who, second) {
		t.Errorf("late watch: Terminated{%s, %v}, want {%s, AddressTerminated}",
			pidString(term.Who), term.Why, pidString(second))
	}
}

// TestWatch_NotFound: watching an actor that does not exist in a live
// context answers Terminated{NotFound}.
func TestWatch_NotFound(t *testing.T) {
	root, c, _ := pair(t)
	ghost := actor.NewPID(actors.Address(c.link.ID), "ghost")
	ev := make(chan watchEvent, 8)
	spawnWatcher(t, root, ghost, ev)
	term := nextTerminated(t, ev, waitLong)
	if term.Why != actor.TerminatedReason_NotFound || !samePID(term.Who, ghost) {
		t.Errorf("Terminated{%s, %v}, want {%s, NotFound}", pidString(term.Who), term.Why, pidString(ghost))
	}
}

// TestWatch_ChildWatchesRoot: watches work upwards too.
func TestWatch_ChildWatchesRoot(t *testing.T) {
	root, c, _ := pair(t)
	target := root.System().Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	remote := actor.NewPID(target.Address, target.Id) // fresh PID: PIDs cache their Process per system
	ev := make(chan watchEvent, 8)
	spawnWatcher(t, c.node, remote, ev)
	// The watch frame precedes any later frame on the link, so a round trip
	// from the child to the root shows that the watch arrived.
	echo := root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
		if _, ok := ac.Message().(*Ping); ok {
			ac.Respond(&Pong{})
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if _, err := actors.Request[*Pong](ctx, c.node, actor.NewPID(echo.Address, echo.Id), &Ping{}); err != nil {
		t.Fatalf("sync request: %v", err)
	}
	root.System().Root.Stop(target)
	term := nextTerminated(t, ev, waitLong)
	if term.Why != actor.TerminatedReason_Stopped || term.Who.Address != root.Address() || term.Who.Id != target.Id {
		t.Errorf("Terminated{%s, %v}, want {%s, Stopped}", pidString(term.Who), term.Why, pidString(target))
	}
}

// TestWatch_NodedownOrdering: messages that arrived from a context before
// its link broke are delivered before the Terminated that reports its
// death (Erlang's nodedown ordering).
func TestWatch_NodedownOrdering(t *testing.T) {
	const n = 1000
	for round := 0; round < 3; round++ {
		root, c, _ := pair(t)
		burst := spawnRemote(t, root, c.link.ID, "burst", "")

		type result struct {
			ticks   int
			inOrder bool
			why     actor.TerminatedReason
		}
		results := make(chan result, 1)
		watching := make(chan struct{})
		collector := actor.PropsFromFunc(func() actor.ReceiveFunc {
			count, inOrder := 0, true
			return func(ac actor.Context) {
				switch m := ac.Message().(type) {
				case *actor.Started:
					ac.Watch(burst)
					close(watching)
				case *Tick:
					if m.I != count {
						inOrder = false
					}
					count++
				case *actor.Terminated:
					results <- result{count, inOrder, m.Why}
				}
			}
		}())
		if _, err := root.System().Root.SpawnNamed(collector, "collector"); err != nil {
			t.Fatal(err)
		}
		recv(t, watching, waitLong, "the collector to watch")

		// The answer to Burst travels behind the n Ticks on the same link:
		// once it is here, all Ticks have arrived in the root.
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		_, err := actors.Request[*Pong](ctx, root, burst, &Burst{N: n, To: "collector"})
		cancel()
		if err != nil {
			t.Fatalf("round %d: Burst: %v", round, err)
		}
		c.kill()

		res := recv(t, results, waitLong, "Terminated at the collector")
		if res.why != actor.TerminatedReason_AddressTerminated {
			t.Errorf("round %d: Terminated.Why = %v, want AddressTerminated", round, res.why)
		}
		if res.ticks != n {
			t.Errorf("round %d: collector saw %d of %d messages before Terminated", round, res.ticks, n)
		}
		if !res.inOrder {
			t.Errorf("round %d: messages arrived out of order", round)
		}
	}
}

// TestWatch_UnwatchThenStop: after Unwatch, stopping the actor does not
// notify the former watcher (checked against a second watcher that stays).
func TestWatch_UnwatchThenStop(t *testing.T) {
	root, c, _ := pair(t)
	target := spawnRemote(t, root, c.link.ID, "echo", "")
	quit := make(chan watchEvent, 8)
	stay := make(chan watchEvent, 8)
	unwatched := make(chan struct{})
	leaver := root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
		switch m := ac.Message().(type) {
		case *actor.Started:
			ac.Watch(target)
			ac.Unwatch(target)
			close(unwatched)
		case *actor.Terminated:
			quit <- watchEvent{term: m}
		case *Ping:
			quit <- watchEvent{ping: m.Text}
		}
	}))
	recv(t, unwatched, waitLong, "watch and unwatch")
	spawnWatcher(t, root, target, stay)
	ping(t, root, target, "sync") // watch and unwatch frames precede this
	root.System().Root.Stop(target)
	nextTerminated(t, stay, waitLong)
	// A Terminated for the leaver would have been sent in the same loop over
	// the watchers, ahead of the answer to this request on the same link,
	// and posted to the leaver's mailbox ahead of the marker.
	ping(t, root, spawnRemote(t, root, c.link.ID, "echo", ""), "sync2")
	root.System().Root.Send(leaver, &Ping{Text: "marker"})
	if ev := recv(t, quit, waitLong, "the marker"); ev.ping != "marker" {
		t.Errorf("unwatched actor still got %+v", ev.term)
	}
}
