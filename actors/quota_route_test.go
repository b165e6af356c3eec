package actors_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// assertHeapGrowth fails the test when the live heap grew by more than
// limit bytes since before.
func assertHeapGrowth(t *testing.T, before uint64, limit uint64, what string) {
	t.Helper()
	after := heapInUse()
	if after > before && after-before > limit {
		t.Fatalf("%s: live heap grew by %d MiB (from %d to %d MiB), bound %d MiB",
			what, (after-before)>>20, before>>20, after>>20, limit>>20)
	}
	t.Logf("%s: live heap %d -> %d MiB", what, before>>20, after>>20)
}

// allocBlock has the raw peer ask its parent for count IDs and returns the
// first.
func allocBlock(t *testing.T, raw *rawPeer, count uint32) uint32 {
	t.Helper()
	raw.send(raw.spec(wire.KindAllocateID, raw.parent), rawAllocRequest{ReplyID: "$alloc", Count: count})
	f := raw.expect(waitLong, "ID block", func(f wire.Frame) bool {
		k := f.Header().Kind()
		return k == wire.KindUser || k == wire.KindDead
	})
	if f.Header().Kind() == wire.KindDead {
		d, _ := wire.ParseDeadReply(f.Body())
		t.Fatalf("ALLOCATE_ID refused: %s", d.Reason)
	}
	e, err := wire.ParseEnvelope(f.Body())
	if err != nil {
		t.Fatal(err)
	}
	var b struct{ First, Count uint32 }
	if err := wire.Unmarshal(e.Payload, &b); err != nil || b.Count != count {
		t.Fatalf("ID block %+v: %v", b, err)
	}
	return b.First
}

// TestQuota_RouteUpdateTooManyIDs: a route update naming more than 1,024
// contexts closes the link as a protocol error (ErrRouteUpdate).
func TestQuota_RouteUpdateTooManyIDs(t *testing.T) {
	for _, kind := range []wire.Kind{wire.KindAddRoute, wire.KindDelRoute} {
		t.Run(kind.String(), func(t *testing.T) {
			root := newRoot(t, actors.Config{Setup: typeSetup})
			raw, link := attachRaw(t, root, "mallory")
			raw.send(raw.spec(kind, 0), rawRouteUpdate{IDs: make([]uint32, 1025), Reason: "x"})
			if !closedWithin(link.Done(), waitLong) {
				t.Fatal("link still up")
			}
			var pe *actors.ProtocolError
			if !errors.As(link.Err(), &pe) || !errors.Is(link.Err(), actors.ErrRouteUpdate) {
				t.Fatalf("link error %v, want a ProtocolError wrapping ErrRouteUpdate", link.Err())
			}
		})
	}
}

// TestQuota_RouteRecordsBomb: rounds of ADD_ROUTE/DEL_ROUTE with 1 MiB
// names and reasons leave the root holding a few KiB per context, not the
// strings (today's run kept 91 MiB after 96 rounds).
func TestQuota_RouteRecordsBomb(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	raw, link := attachRaw(t, root, "mallory")
	first := allocBlock(t, raw, 1024)
	big := strings.Repeat("n", 1<<20)
	before := heapInUse()
	for i := uint32(0); i < 96; i++ {
		id := first + i
		raw.send(raw.spec(wire.KindAddRoute, 0), rawRouteUpdate{IDs: []uint32{id}, Names: []string{big}})
		raw.send(raw.spec(wire.KindDelRoute, 0), rawRouteUpdate{IDs: []uint32{id}, Reason: big + string(rune('a'+i%26))})
	}
	raw.barrier(0)
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
	assertHeapGrowth(t, before, 8<<20, "96 rounds of 1 MiB names and reasons")
	raw.drain()
}

// TestQuota_DelRouteOneLogRecord: a DEL_ROUTE of 1,024 contexts with a
// 64 KiB reason is one log record, with the reason cut to 1 KiB (today:
// 2,048 records, 128 MiB of logs).
func TestQuota_DelRouteOneLogRecord(t *testing.T) {
	logs := newLogStore(t)
	root := newRoot(t, actors.Config{Setup: typeSetup, Logger: logs.logger()})
	raw, _ := attachRaw(t, root, "mallory")
	first := allocBlock(t, raw, 1024)
	ids := make([]uint32, 1024)
	for i := range ids {
		ids[i] = first + uint32(i)
	}
	raw.send(raw.spec(wire.KindAddRoute, 0), rawRouteUpdate{IDs: ids, Names: make([]string, len(ids))})
	raw.send(raw.spec(wire.KindDelRoute, 0), rawRouteUpdate{IDs: ids, Reason: strings.Repeat("r", 64<<10)})
	raw.barrier(0)
	logs.mu.Lock()
	defer logs.mu.Unlock()
	var records, bytes int
	for _, r := range logs.recs {
		records++
		bytes += len(r.String())
	}
	if records > 20 || bytes > 16<<10 {
		t.Fatalf("%d log records, %d bytes, for one route update", records, bytes)
	}
}

// TestRouter_DelRouteNeverChunked: the death of a subtree of 32,768
// contexts reaches a grandchild elsewhere in the tree: the DEL_ROUTE is
// split into frames that each travel whole (today one frame over 128 KiB
// went in chunks and the middle context rejected it as an unknown kind).
func TestRouter_DelRouteNeverChunked(t *testing.T) {
	// The leaf never talked to big's subtree: flood every death (no egress
	// records) so that the whole update travels down to it.
	flood := actors.Config{Setup: typeSetup, Quotas: actors.Quotas{EgressIDs: -1}}
	root := newRoot(t, flood)
	mid := attach(t, root, "mid", flood)
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
	if n := len(root.Routes()); n < 32*1024 {
		t.Fatalf("root routes %d contexts", n)
	}
	seen := make(chan struct{})
	sub := leaf.node.System().EventStream.Subscribe(func(ev any) {
		if cd, ok := ev.(*actors.ContextDown); ok && cd.ID == last {
			close(seen)
		}
	})
	defer leaf.node.System().EventStream.Unsubscribe(sub)
	_ = raw.conn.Close()
	<-link.Done()
	if !closedWithin(seen, waitLong) {
		t.Fatalf("the leaf never learnt that context %d died", last)
	}
}
