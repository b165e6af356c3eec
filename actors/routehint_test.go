package actors_test

import (
	"errors"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// TestSend_RouteRemovedReachesTheNextSend: a context behind a child link
// that stays up is sent to (its route is then the node's last lookup, kept
// for the next send), and its DEL_ROUTE arrives: the next send to it fails
// at once with ErrContextDead instead of going down the link as the one
// before did.
func TestSend_RouteRemovedReachesTheNextSend(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	raw, _ := attachRaw(t, root, "mid")
	ids := routeIDs(t, raw, 1)
	raw.barrier(0)
	pid := actor.NewPID(actors.Address(ids[0]), "worker")
	for range 3 {
		if err := root.Send(pid, &Ping{Text: "before"}); err != nil {
			t.Fatalf("send before the DEL_ROUTE: %v", err)
		}
	}
	raw.expect(waitLong, "a message for the grandchild", func(f wire.Frame) bool {
		return f.Header().Kind() == wire.KindUser && f.Header().Dst() == ids[0]
	})
	raw.send(raw.spec(wire.KindDelRoute, 0), rawRouteUpdate{IDs: ids, Reason: "gone"})
	raw.barrier(0)
	if err := root.Send(pid, &Ping{Text: "after"}); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("send after the DEL_ROUTE: %v, want ErrContextDead", err)
	}
}

// TestRouter_SpoofedSourceAfterDelRoute: frames from a context behind a
// child link pass the reverse-path check (the last source that passed is
// kept for the next frame) until that context's DEL_ROUTE: a frame claiming
// it as its source after that is dropped.
func TestRouter_SpoofedSourceAfterDelRoute(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	got := make(chan string, 16)
	spawnLocal(t, root, "collector", func(c actor.Context) {
		if m, ok := c.Message().(*Ping); ok {
			got <- m.Text
		}
	})
	raw, _ := attachRaw(t, root, "mid")
	ids := routeIDs(t, raw, 1)
	raw.barrier(0)
	from := wire.FrameSpec{Kind: wire.KindUser, Dst: 0, Src: ids[0], Auth: ids[0]}
	for range 2 {
		raw.writeRaw(raw.userFrame(from, "collector", &Ping{Text: "alive"}))
	}
	for range 2 {
		if text := recv(t, got, waitLong, "a Ping from the grandchild"); text != "alive" {
			t.Fatalf("collector got %q, want alive", text)
		}
	}
	raw.send(raw.spec(wire.KindDelRoute, 0), rawRouteUpdate{IDs: ids, Reason: "gone"})
	raw.writeRaw(raw.userFrame(from, "collector", &Ping{Text: "spoofed"}))
	raw.barrier(0)
	// The reader posted whatever it accepted before answering the barrier:
	// a local marker sent now comes after it in the collector's mailbox.
	root.System().Root.Send(actor.NewPID(root.Address(), "collector"), &Ping{Text: "marker"})
	if text := recv(t, got, waitLong, "the marker"); text != "marker" {
		t.Fatalf("collector got %q from a context whose route was deleted, want only the marker", text)
	}
}
