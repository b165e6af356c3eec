package actors_test

// A probe beyond the issue's list, in its class ("pin hundreds of MiB in
// the root"): a child sends big messages to a root actor that is slower
// than the link. Every message is decoded and queued in the actor's
// protoactor mailbox, which has no bound, so the child decides how much
// of the root's heap the queue holds. This is a known gap (see
// docs/security.md, Known gaps): the test reports the figure and skips
// while the root has no per-link bound on delivered but unprocessed
// messages; it passes once there is one.

import (
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

func TestProbe_MailboxFloodOfSlowActor(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	release := make(chan struct{})
	if _, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*Ping); ok {
			<-release // a slow actor: busy with its first message
		}
	}), "slow"); err != nil {
		t.Fatal(err)
	}
	defer close(release)
	raw, link := attachRaw(t, root, "mallory")
	frame := raw.userFrame(raw.spec(wire.KindUser, 0), "slow", &Ping{Text: strings.Repeat("m", 1<<20)})
	before := heapInUse()
	const n = 64 // 64 MiB
	for i := 0; i < n; i++ {
		raw.writeRaw(frame)
	}
	raw.barrier(0)
	frame = nil
	grew := int64(heapInUse()) - int64(before)
	t.Logf("%d messages of 1 MiB to a slow root actor: live heap %+d MiB", n, grew>>20)
	if isClosed(link.Done()) {
		t.Logf("link closed: %v", link.Err())
	}
	if grew > 32<<20 {
		t.Skipf("known gap (docs/security.md): a child pins %d MiB of the root's heap in a slow actor's unbounded mailbox", grew>>20)
	}
}
