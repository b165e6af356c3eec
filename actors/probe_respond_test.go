package actors_test

// Acceptance probe of issue 11 ("One link blocks others"), from the other
// side: a child that stops reading (but keeps sending heartbeats) asks a
// shared root actor for big answers. The answers fill the root's queue
// toward it, and an actor's send waits for room there (docs/links.md: an
// actor's send is Inline, it waits until the link drains or is declared
// dead). So the shared actor waits, and every other context's requests to
// it wait with it, until the write stall is detected (HeartbeatTimeout);
// with heartbeats off, or against a child that reads just fast enough not
// to count as stalled, for good. Known gap (docs/security.md): the test
// reports the figure and skips naming it while the delay is there.

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
	const stall = 6 * time.Second
	cfg := actors.Config{Setup: typeSetup, HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: stall}
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
	stop := make(chan struct{})
	pinged := make(chan struct{})
	go func() { // the stuck child still sends heartbeats: it is not silent
		defer close(pinged)
		ping := wire.AppendFrame(nil, deaf.spec(wire.KindPing, 0), nil, nil)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				deaf.tryWriteRaw(ping)
			}
		}
	}()
	defer func() { close(stop); <-pinged }()
	good := attach(t, root, "good", cfg)
	// 200 requests for 512 KiB answers: 100 MiB, far over the 32 MiB queue.
	ask := deaf.userFrameFrom(deaf.spec(wire.KindUser, 0), shared.Id, deaf.id, "inbox",
		&Ping{Text: strings.Repeat("a", 512<<10)})
	for i := 0; i < 200 && !isClosed(deafLink.Done()); i++ {
		deaf.tryWriteRaw(ask)
	}
	start := time.Now()
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
		_, err := good.node.Request(ctx, shared, &Ping{Text: "me too"})
		cancel()
		if err != nil {
			t.Fatalf("request %d of another child to the shared actor: %v after %v", i, err, time.Since(start))
		}
	}
	took := time.Since(start)
	t.Logf("another child's 20 requests to the shared actor took %v (stuck link down: %v, %v)",
		took, isClosed(deafLink.Done()), deafLink.Err())
	if took > 3*time.Second {
		t.Skipf("known gap (docs/security.md): a shared root actor answering a child that stopped reading waits on "+
			"that child's full queue; another child's requests to it took %v (HeartbeatTimeout %v)", took, stall)
	}
}
