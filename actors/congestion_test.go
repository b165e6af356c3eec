package actors_test

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

// fillLink sends big messages to pid with SendContext until one is not
// taken within a short deadline: the link toward pid is then over its
// queue limit. It returns how many were taken.
func fillLink(t *testing.T, root *actors.Node, pid *actor.PID) int {
	t.Helper()
	big := &Ping{Text: strings.Repeat("x", 512<<10)} // under the deaf child's 1 MiB frame limit
	const most = 1000                                // 500 MiB: far more than a queue may hold
	for i := 0; i < most; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := root.SendContext(ctx, pid, big)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return i
		}
		if err != nil {
			t.Fatalf("SendContext %d: %v", i, err)
		}
	}
	t.Fatalf("%d messages of 512 KiB taken by a child that reads nothing: no backpressure", most)
	return most
}

// TestRouter_ForwardIntoStuckLinkIsCongested: a frame a sibling sends
// toward a context whose link is over its queue limit is not waited on by
// the root's reader: it comes straight back as IS_DEAD (rejected, cause
// congested), and the sibling's link keeps working.
func TestRouter_ForwardIntoStuckLinkIsCongested(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, HeartbeatInterval: -1}) // the deaf peer never pings
	deaf, _ := attachRawDeaf(t, root, "stuck")
	fillLink(t, root, actor.NewPID(actors.Address(deaf.id), "anyone"))
	sender, senderLink := attachRaw(t, root, "sender")
	start := time.Now()
	sender.writeRaw(sender.userFrame(sender.spec(wire.KindUser, deaf.id), "anyone", &Ping{Text: strings.Repeat("c", 600<<10)}))
	d := sender.expectDead("congested", func(d wire.DeadReply) bool { return d.TargetCtx == deaf.id })
	if d.Code != wire.DeadRejected || d.Cause != wire.CauseCongested || !strings.Contains(d.Reason, "congested") {
		t.Fatalf("dead reply %+v, want rejected, cause congested", d)
	}
	t.Logf("congested IS_DEAD back %v after the send", time.Since(start))
	sender.barrier(0)
	if isClosed(senderLink.Done()) {
		t.Fatalf("sender's link closed: %v", senderLink.Err())
	}
}

// TestRouter_RequestThroughCongestedHopFailsAtOnce: a child's request to a
// context behind a congested link fails at once (not at its deadline) with
// an error that matches ErrRejected and ErrCongested, the cause carried
// over the wire.
func TestRouter_RequestThroughCongestedHopFailsAtOnce(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, HeartbeatInterval: -1}) // the deaf peer never pings
	deaf, _ := attachRawDeaf(t, root, "stuck")
	target := actor.NewPID(actors.Address(deaf.id), "anyone")
	fillLink(t, root, target)
	c := attach(t, root, "asker", actors.Config{Setup: typeSetup})
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	start := time.Now()
	_, err := c.node.Request(ctx, target, &Ping{Text: strings.Repeat("q", 600<<10)})
	took := time.Since(start)
	t.Logf("request through the congested hop failed after %v: %v", took, err)
	if !errors.Is(err, actors.ErrRejected) || !errors.Is(err, actors.ErrCongested) {
		t.Fatalf("Request = %v, want an error matching ErrRejected and ErrCongested", err)
	}
	if took > atOnce {
		t.Fatalf("Request failed after %v, not at once", took)
	}
}

// TestNode_SpawnRemoteHonoursCtxWhileBackpressured: a node-level call
// (SpawnRemote) toward a link over its queue limit returns by its
// deadline instead of waiting for room.
func TestNode_SpawnRemoteHonoursCtxWhileBackpressured(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, HeartbeatInterval: -1}) // the deaf peer never pings
	deaf, _ := attachRawDeaf(t, root, "stuck")
	pid := actor.NewPID(actors.Address(deaf.id), "anyone")
	fillLink(t, root, pid)
	for _, size := range []int{16 << 10, 1 << 10, 16} { // leave less room than a spawn request needs
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			err := root.SendContext(ctx, pid, &Ping{Text: strings.Repeat("f", size)})
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := root.SpawnRemote(ctx, deaf.id, "echo", strings.Repeat("n", 200))
	took := time.Since(start)
	t.Logf("SpawnRemote with a 300ms deadline returned after %v: %v", took, err)
	if !errors.Is(err, context.DeadlineExceeded) || took > atOnce {
		t.Fatalf("SpawnRemote = %v after %v, want DeadlineExceeded at about 300ms", err, took)
	}
}
