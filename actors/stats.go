package actors

import (
	"cmp"
	"slices"
	"time"
)

// LinkStats is a snapshot of the counters of one of a node's links (to its
// parent or to a direct child), read with atomics: the hot path keeps them
// without locks or calls to a metrics library.
type LinkStats struct {
	Peer     uint32 // context ID on the other side
	Name     string // the peer's name ("parent" on a child's side when it has none)
	IsParent bool   // the link goes to this context's parent

	// Frames and bytes each way, heartbeats included; a frame sent in
	// chunks counts once out, once per chunk in, with the bytes of its
	// chunks both ways.
	FramesIn, BytesIn   uint64
	FramesOut, BytesOut uint64
	// QueueBytes is what waits in the link's queues now, QueueHigh the most
	// that ever waited (the high-water mark).
	QueueBytes, QueueHigh uint64
	// RTT is the last heartbeat round trip (PING to PONG), RTTSmoothed an
	// exponentially weighted mean (weight 1/8, as TCP's SRTT). Zero before
	// the first PONG, or with the heartbeat off; a link that is never idle
	// sends no PING, and keeps its last figures.
	RTT, RTTSmoothed time.Duration
	// DeadIn and DeadOut count IS_DEAD frames read and sent, this
	// context's own and those it forwards.
	DeadIn, DeadOut uint64
	// Dropped counts frames from the peer dropped or refused by policy or
	// quota: spoofed source, refused between isolated child links, over a
	// quota (see QuotaExceeded).
	Dropped uint64
	// ChunksInFlight counts chunked frames the peer has begun and not yet
	// ended on this link.
	ChunksInFlight int64
}

// LinkStats returns a snapshot of the counters of every link of this node:
// the parent's first (in a child context), then the children's by context
// ID. It is safe for concurrent use and takes each link's queue lock once.
func (n *Node) LinkStats() []LinkStats {
	n.mu.RLock()
	links := make([]*link, 0, len(n.children)+1)
	if n.parent != nil {
		links = append(links, n.parent)
	}
	for _, l := range n.children {
		links = append(links, l)
	}
	n.mu.RUnlock()
	out := make([]LinkStats, 0, len(links))
	for _, l := range links {
		s := l.Stats()
		out = append(out, LinkStats{
			Peer: l.peer, Name: l.peerName, IsParent: l.isParent,
			FramesIn: s.FramesIn, BytesIn: s.BytesIn, FramesOut: s.FramesOut, BytesOut: s.BytesOut,
			QueueBytes: s.QueueBytes, QueueHigh: s.QueueHigh,
			RTT: s.RTT, RTTSmoothed: s.RTTSmoothed,
			DeadIn: s.DeadIn, DeadOut: s.DeadOut, Dropped: s.Dropped, ChunksInFlight: s.ChunksInFlight,
		})
	}
	first := 0
	if len(out) > 0 && out[0].IsParent {
		first = 1
	}
	slices.SortFunc(out[first:], func(a, b LinkStats) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}
