package actors_test

// Acceptance probes of issue 11 on route updates ("One link blocks
// others": a DEL_ROUTE over 128 KiB reached a grandchild in chunks and was
// rejected there as an unknown kind, so a request waited for its own
// deadline instead of failing at once).

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// TestProbe_BigDelRouteFailsGrandchildsRequestAtOnce: root -> {mid ->
// leaf, big}; big announces 32,768 contexts (a DEL_ROUTE naming them all
// would be far over 128 KiB). The leaf has a request in flight to the last
// of them when big's link goes down: the request fails at once with
// ErrContextDead, not at its 30 s deadline.
func TestProbe_BigDelRouteFailsGrandchildsRequestAtOnce(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	mid := attach(t, root, "mid", actors.Config{Setup: typeSetup})
	leaf := attach(t, mid.node, "leaf", actors.Config{Setup: typeSetup})
	raw, link := attachRaw(t, root, "big")
	var last uint32
	for b := 0; b < 32; b++ {
		first := allocBlock(t, raw, 1024)
		ids := make([]uint32, 1024)
		for i := range ids {
			ids[i] = first + uint32(i)
		}
		raw.send(raw.spec(wire.KindAddRoute, 0), rawRouteUpdate{IDs: ids, Names: make([]string, len(ids))})
		last = ids[len(ids)-1]
	}
	raw.barrier(0)
	target := actor.NewPID(actors.Address(last), "x")
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	failed := make(chan error, 1)
	go func() {
		_, err := leaf.node.Request(ctx, target, &Ping{Text: "to the big subtree"})
		failed <- err
	}()
	raw.expect(waitLong, "the leaf's request", func(f wire.Frame) bool {
		return f.Header().Kind() == wire.KindUser && f.Header().Dst() == last
	})
	_ = raw.conn.Close()
	<-link.Done()
	gone := time.Now()
	err := recv(t, failed, waitLong, "the leaf's request to fail")
	took := time.Since(gone)
	t.Logf("the leaf's request failed %v after the link went down: %v", took, err)
	if !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("request error %v, want ErrContextDead", err)
	}
	if took > atOnce {
		t.Fatalf("the leaf's request failed %v after the death, not at once", took)
	}
}
