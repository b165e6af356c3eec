package actors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/spindle-go/spindle/actors/internal/route"
	"github.com/spindle-go/spindle/wire"
)

// Quota errors: what a child link (the whole subtree behind it) may make
// this context hold or do is bounded, and exceeding a bound is one of these
// errors (published as a [QuotaExceeded] event, and sent back to the
// offender in the dead reply of a refused request) or a closed link, never
// growth. Defaults are documented on [Quotas].
var (
	// ErrIDQuota: the subtree behind a link already holds
	// Quotas.GrantedIDs context IDs.
	ErrIDQuota = route.ErrIDQuota
	// ErrIDRate: the subtree behind a link asked for ID blocks faster than
	// Quotas.IDBlockRate.
	ErrIDRate = route.ErrIDRate
	// ErrLogRate: the subtree behind a link forwarded log records faster
	// than Quotas.LogRate; the excess was dropped.
	ErrLogRate = route.ErrLogRate
	// ErrRouteUpdate: an ADD_ROUTE or DEL_ROUTE named more than 1,024
	// contexts; it closes the link as a protocol error. (Names and reasons
	// in route updates are cut to 255 and 1,024 bytes, not refused.)
	ErrRouteUpdate = errors.New("actors: route update over its bounds")
)

// Quotas bound, per child link, what the subtree behind that link can make
// this context hold. The zero value means the defaults given on each field;
// usage charged to a link is freed when the link goes down.
type Quotas struct {
	// GrantedIDs is the most context IDs granted, in all, to the subtree
	// behind one child link (ALLOCATE_ID). IDs granted to a link that died
	// are never handed out again (IDs are never reused), but their records
	// are freed. Default 65,536.
	GrantedIDs uint32
	// IDBlockRate is how many ALLOCATE_ID blocks per second one child link
	// may be granted, after a burst of IDBlockBurst. Defaults 50 and 100.
	IDBlockRate  float64
	IDBlockBurst float64
	// LogRate is how many FORWARD_LOG records per second one child link
	// may forward, after a burst of LogBurst; the rest are dropped (and
	// counted in the next record that passes). Defaults 1,000 and 2,000.
	LogRate  float64
	LogBurst float64
	// DeadRecords is how many dead contexts this context remembers, with
	// their death reasons (the oldest are forgotten first). Default 4,096.
	DeadRecords int
	// ChunkBytes is the most buffer bytes the chunked frames being
	// reassembled from one link may hold together, and ChunkStreams how
	// many may be open at once; beyond, the stream is dropped and its
	// sender gets a dead reply (wire.ErrChunkQuota). Both are freed when
	// the link goes down. Defaults MaxFrame (128 MiB) and 16.
	ChunkBytes   int
	ChunkStreams int
	// EgressIDs is how many contexts outside a child link's subtree this
	// context records as having exchanged frames with that subtree (its
	// egress records, for scoped DEL_ROUTE: a death is sent down only to
	// the links whose subtrees talked with the dead). A link that would
	// hold more gets every DEL_ROUTE instead, as if no records were kept.
	// Records are freed when their context dies and when the link goes
	// down. Negative: no records, every death to every link. Default
	// 1,024.
	EgressIDs int
}

func (q Quotas) limits() route.Limits {
	return route.Limits{
		GrantedIDs:  q.GrantedIDs,
		BlockRate:   q.IDBlockRate,
		BlockBurst:  q.IDBlockBurst,
		LogRate:     q.LogRate,
		LogBurst:    q.LogBurst,
		DeadRecords: q.DeadRecords,
		EgressIDs:   q.EgressIDs,
	}
}

// QuotaExceeded is published on the actor system's event stream when the
// subtree behind a child link exceeds a quota. Err wraps one of the quota
// errors (ErrIDQuota, ErrLogRate, wire.ErrChunkQuota, ...).
type QuotaExceeded struct {
	Link uint32 // the child context whose link was charged
	Name string
	Kind wire.Kind // the kind of the frame refused
	Err  error
}

// newAssembler returns the reassembler of a new link's chunked frames.
func (n *Node) newAssembler() *wire.Assembler {
	a := wire.NewAssembler(n.cfg.MaxFrame)
	a.Limit(n.cfg.Quotas.ChunkBytes, n.cfg.Quotas.ChunkStreams)
	return a
}

// now is the node's clock; the route table gets time from here.
func (n *Node) now() time.Time { return time.Now() }

// warnOnce logs a refusal of a frame that came over l at Warn the first
// time per link and kind of refusal, at Debug after: a hostile child must
// not be able to fill the logs with refusals.
func (n *Node) warnOnce(l *link, bit uint16, msg string, args ...any) {
	level := slog.LevelWarn // the parent's refusals: it could stop us anyway
	if !l.isParent {
		n.mu.Lock()
		if !n.rt.FirstTrip(l.peer, bit) {
			level = slog.LevelDebug
		}
		n.mu.Unlock()
	}
	n.log.Log(context.Background(), level, msg, append(args, "link", l.peer)...)
}

// quotaExceeded reports a quota that link l exceeded: an event each time,
// a log record the first time per link and quota.
func (n *Node) quotaExceeded(l *link, bit uint16, kind wire.Kind, err error) {
	l.CountDrop()
	n.mu.Lock()
	first := n.rt.FirstTrip(l.peer, bit)
	n.mu.Unlock()
	if first {
		n.log.Warn("quota exceeded", "link", l.peer, "child", l.peerName, "kind", kind, "err", err)
	}
	n.sys.EventStream.Publish(&QuotaExceeded{Link: l.peer, Name: l.peerName, Kind: kind, Err: err})
}
