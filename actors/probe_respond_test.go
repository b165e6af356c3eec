package actors_test

// Acceptance probe of issue 11 ("One link blocks others"), from the other
// side: a child that stops reading (but keeps sending heartbeats) asks a
// shared root actor for big answers. The answers fill the root's queue
// toward it, and an actor's send waits for room there (docs/links.md: an
// actor's send is Inline, it waits until the link drains or is declared
// dead). So the shared actor waits, and every other context's requests to
// it wait with it, until the write stall is detected (HeartbeatTimeout);
// with heartbeats off (here), or against a child that reads just fast
// enough not to count as stalled, for good. Known gap (docs/security.md):
// the test skips naming it while the request waits.

import (
	"context"
	"errors"
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err = good.node.Request(ctx, shared, &Ping{Text: "me too"})
	took := time.Since(start)
	t.Logf("another child's request to the shared actor: %v after %v", err, took)
	if isClosed(deafLink.Done()) {
		t.Fatalf("the stuck link closed: %v", deafLink.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Skipf("known gap (docs/security.md): a shared root actor answering a child that stopped reading waits on " +
			"that child's full queue; another child's request to it was still waiting at its 3 s deadline")
	}
	if err != nil {
		t.Fatalf("another child's request to the shared actor: %v", err)
	}
}
