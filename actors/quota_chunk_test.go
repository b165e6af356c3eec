package actors_test

import (
	"errors"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// routeIDs has the raw peer take n IDs and announce them behind its link.
func routeIDs(t *testing.T, raw *rawPeer, n int) []uint32 {
	t.Helper()
	first := allocBlock(t, raw, uint32(n))
	ids := make([]uint32, n)
	for i := range ids {
		ids[i] = first + uint32(i)
	}
	raw.send(raw.spec(wire.KindAddRoute, 0), rawRouteUpdate{IDs: ids, Names: make([]string, n)})
	return ids
}

// TestQuota_ChunkStreamsBomb: a child opening chunked streams from many
// routed sources and never finishing them holds at most Quotas.ChunkBytes
// in the root (wire.ErrChunkQuota beyond), and nothing once its link is
// down (today 24 streams of 32 MiB pinned 858 MiB, still held after the
// child died).
func TestQuota_ChunkStreamsBomb(t *testing.T) {
	const limit = 8 << 20
	root := newRoot(t, actors.Config{Setup: typeSetup, Quotas: actors.Quotas{ChunkBytes: limit}})
	quota := subscribeQuota(t, root)
	raw, link := attachRaw(t, root, "mallory")
	ids := routeIDs(t, raw, 24)
	raw.barrier(0)
	before := heapInUse()
	body := make([]byte, 4<<20)
	for _, id := range ids {
		whole := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Dst: 0, Src: id, Auth: id}, nil, body)
		chunks := wire.AppendChunks(nil, whole, 0)
		last := wire.HeaderSize + (len(whole)-1)%wire.DefaultChunkSize + 1
		raw.tryWriteRaw(chunks[:len(chunks)-last]) // never the END
		if isClosed(link.Done()) {
			t.Fatalf("link closed: %v", link.Err())
		}
	}
	raw.barrier(0)
	ev := recv(t, quota, waitLong, "QuotaExceeded")
	if !errors.Is(ev.Err, wire.ErrChunkQuota) || ev.Link != link.ID {
		t.Fatalf("QuotaExceeded = %+v, want wire.ErrChunkQuota on link %d", ev, link.ID)
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
	body = nil
	assertHeapGrowth(t, before, limit+8<<20, "24 open 4 MiB streams")
	_ = raw.conn.Close()
	<-link.Done()
	assertHeapGrowth(t, before, 4<<20, "after the link went down")
}

// TestQuota_ChunkStreamsCount: at most Quotas.ChunkStreams streams are
// open at once per link; the sender of another gets a dead reply.
func TestQuota_ChunkStreamsCount(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, Quotas: actors.Quotas{ChunkStreams: 2}})
	quota := subscribeQuota(t, root)
	raw, _ := attachRaw(t, root, "mallory")
	ids := routeIDs(t, raw, 3)
	raw.barrier(0)
	for _, id := range ids {
		whole := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Dst: 0, Src: id, Auth: id}, nil, make([]byte, 300<<10))
		raw.writeRaw(wire.AppendChunks(nil, whole, 0)[:wire.DefaultChunkSize+wire.HeaderSize]) // the START only
	}
	d := raw.expectDead("refused third stream", func(wire.DeadReply) bool { return true })
	if d.Code != wire.DeadRejected {
		t.Fatalf("dead reply %+v", d)
	}
	if ev := recv(t, quota, waitLong, "QuotaExceeded"); !errors.Is(ev.Err, wire.ErrChunkQuota) {
		t.Fatalf("QuotaExceeded.Err = %v", ev.Err)
	}
}
