package actors_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// subscribeQuota returns the QuotaExceeded events published on n.
func subscribeQuota(t testing.TB, n *actors.Node) <-chan *actors.QuotaExceeded {
	t.Helper()
	ch := make(chan *actors.QuotaExceeded, 1024)
	sub := n.System().EventStream.Subscribe(func(ev any) {
		if q, ok := ev.(*actors.QuotaExceeded); ok {
			offer(ch, q)
		}
	})
	t.Cleanup(func() { n.System().EventStream.Unsubscribe(sub) })
	return ch
}

// allocAnswers sends n ALLOCATE_ID requests of count IDs each and returns
// how many were granted and how many refused.
func allocAnswers(t *testing.T, raw *rawPeer, n int, count uint32) (granted, refused int) {
	granted, refused, _ = allocRanges(t, raw, n, count)
	return granted, refused
}

// allocRanges is allocAnswers that also returns the end of the highest
// block granted.
func allocRanges(t *testing.T, raw *rawPeer, n int, count uint32) (granted, refused int, end uint32) {
	t.Helper()
	for i := 0; i < n; i++ {
		raw.send(raw.spec(wire.KindAllocateID, 0), rawAllocRequest{ReplyID: "$r" + string(rune('a'+i%26)), Count: count})
	}
	for granted+refused < n {
		f, err := raw.next(waitLong)
		if err != nil {
			t.Fatalf("after %d grants and %d refusals: %v", granted, refused, err)
		}
		switch f.Header().Kind() {
		case wire.KindUser:
			granted++
			e, err := wire.ParseEnvelope(f.Body())
			var b struct{ First, Count uint32 }
			if err != nil || wire.Unmarshal(e.Payload, &b) != nil {
				t.Fatalf("bad ID block: %v", err)
			}
			end = max(end, b.First+b.Count)
		case wire.KindDead:
			refused++
		}
	}
	return granted, refused, end
}

// TestQuota_AllocateIDFlood: a child asking for ID blocks in a loop gets
// at most Quotas.GrantedIDs IDs (ErrIDQuota); the rest of the tree can
// still spawn, and the budget is freed with the link.
func TestQuota_AllocateIDFlood(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, Quotas: actors.Quotas{GrantedIDs: 8192}})
	quota := subscribeQuota(t, root)
	raw, link := attachRaw(t, root, "mallory")
	granted, refused, end := allocRanges(t, raw, 40, 1024)
	if granted != 8 || refused != 32 {
		t.Fatalf("granted %d blocks of 1024, refused %d; want 8 and 32", granted, refused)
	}
	ev := recv(t, quota, waitLong, "QuotaExceeded")
	if !errors.Is(ev.Err, actors.ErrIDQuota) || ev.Link != link.ID || ev.Kind != wire.KindAllocateID {
		t.Fatalf("QuotaExceeded = %+v, want ErrIDQuota on link %d", ev, link.ID)
	}
	// Another child still gets an ID, a small one: the space is intact.
	other := attach(t, root, "other", actors.Config{Setup: typeSetup})
	if id := other.node.ID(); id > 20000 {
		t.Fatalf("next child got ID %d", id)
	}
	if isClosed(link.Done()) {
		t.Fatalf("the link was closed: %v", link.Err())
	}
	// Once mallory is gone its IDs are never handed out again.
	_ = raw.conn.Close()
	<-link.Done()
	if id := attach(t, root, "after", actors.Config{Setup: typeSetup}).node.ID(); id < end {
		t.Fatalf("a new child got ID %d, granted to the dead link (below %d)", id, end)
	}
}

// TestQuota_AllocateIDRate: blocks are granted at IDBlockRate per second
// after a burst (ErrIDRate beyond).
func TestQuota_AllocateIDRate(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, Quotas: actors.Quotas{IDBlockRate: 1, IDBlockBurst: 10}})
	quota := subscribeQuota(t, root)
	raw, _ := attachRaw(t, root, "mallory")
	granted, refused := allocAnswers(t, raw, 100, 1)
	if granted < 10 || granted > 40 || refused == 0 {
		t.Fatalf("granted %d blocks, refused %d; want about the burst of 10", granted, refused)
	}
	if ev := recv(t, quota, waitLong, "QuotaExceeded"); !errors.Is(ev.Err, actors.ErrIDRate) {
		t.Fatalf("QuotaExceeded.Err = %v, want ErrIDRate", ev.Err)
	}
}

// TestQuota_AllocateIDThroughMiddle: a grandchild's blocks are charged to
// the link of the child it lives behind.
func TestQuota_AllocateIDThroughMiddle(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, Quotas: actors.Quotas{GrantedIDs: 64}})
	quota := subscribeQuota(t, root)
	mid := attach(t, root, "mid", actors.Config{Setup: typeSetup})
	// mid asks the root for a block of 32 IDs at a time; each AttachChild
	// takes one ID (the handshake then fails at once: nobody answers), so
	// the third block, over 64, is refused.
	var spawned int
	for i := 0; i < 80; i++ {
		a, b := net.Pipe()
		_ = b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		_, err := mid.node.AttachChild(ctx, "gc", actors.Transport{R: a, W: a, C: a})
		cancel()
		var de *actors.DeadError
		if errors.As(err, &de) {
			break
		}
		spawned++
	}
	if spawned != 64 {
		t.Fatalf("mid took %d IDs before a refusal, want 64 (two blocks of 32)", spawned)
	}
	ev := recv(t, quota, waitLong, "QuotaExceeded")
	if !errors.Is(ev.Err, actors.ErrIDQuota) || ev.Link != mid.link.ID {
		t.Fatalf("QuotaExceeded = %+v, want ErrIDQuota on mid's link %d", ev, mid.link.ID)
	}
}
