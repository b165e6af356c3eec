package actors_test

// Acceptance probe of issue 11 ("One link blocks others"), from the other
// side: a child that stops reading (but keeps sending heartbeats) asks a
// shared root actor for big answers. The answers fill the root's queue
// toward it. An actor's send is Bounded (docs/links.md): it waits for room
// at most link.BoundedWait, then fails with ErrCongested, at once while the
// link stays congested, so the shared actor goes on answering every other
// context. Heartbeats are off here: nothing else would free it.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

func TestProbe_AnswersToStuckChildBlockSharedActor(t *testing.T) {
	// Heartbeats off: nothing declares the stuck link dead, so what the
	// shared actor waits for is only that link's room (with heartbeats on
	// it waits up to HeartbeatTimeout: 4.96 s measured with 6 s).
	cfg := actors.Config{Setup: typeSetup, HeartbeatInterval: -1}
	root := newRoot(t, cfg)
	shared, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Ping); ok {
			c.Respond(&Pong{Text: m.Text})
		}
	}), "shared")
	if err != nil {
		t.Fatal(err)
	}
	deaf, deafLink := attachRawDeaf(t, root, "stuck")
	good := attach(t, root, "good", cfg)
	// 200 requests for 512 KiB answers: 100 MiB, far over the 32 MiB queue.
	ask := deaf.userFrameFrom(deaf.spec(wire.KindUser, 0), shared.Id, deaf.id, "inbox",
		&Ping{Text: strings.Repeat("a", 512<<10)})
	for i := 0; i < 200; i++ {
		deaf.writeRaw(ask)
	}
	// (net.Pipe: each write returns once the root's reader took it.)
	// The shared actor's first answer to the stuck child waits for room at
	// most link.BoundedWait (1 s); later ones fail at once (ErrCongested).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = good.node.Request(ctx, shared, &Ping{Text: "me too"})
	took := time.Since(start)
	t.Logf("another child's request to the shared actor: %v after %v", err, took)
	if isClosed(deafLink.Done()) {
		t.Fatalf("the stuck link closed: %v", deafLink.Err())
	}
	if err != nil {
		t.Fatalf("another child's request to the shared actor: %v", err)
	}
}
