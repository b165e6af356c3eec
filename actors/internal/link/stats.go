package link

import (
	"sync/atomic"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// counters are a link's statistics, kept with atomics on the hot path (no
// lock and no call out of the package per frame); Stats reads them.
type counters struct {
	framesIn, bytesIn   atomic.Uint64 // frames read (heartbeats included), their bytes
	framesOut, bytesOut atomic.Uint64 // frames handed to Send and accepted, their bytes
	deadIn, deadOut     atomic.Uint64 // IS_DEAD frames read and sent (own and forwarded)
	dropped             atomic.Uint64 // frames from the peer dropped by policy or quota (CountDrop)
	chunksIn            atomic.Int64  // chunked frames begun and not yet ended, read from the peer
	queueHigh           atomic.Uint64 // the most bytes ever queued (control + bulk)
	pingSent            atomic.Int64  // 1 + ns since epoch of the unanswered PING, or 0
	rttLast, rttSmooth  atomic.Int64  // heartbeat round trips, ns (smooth: EWMA, 1/8)
}

// Stats is a snapshot of a link's counters. The frame and byte counts
// include heartbeats; a frame sent in chunks counts once, with the bytes of
// its chunks.
type Stats struct {
	FramesIn, BytesIn   uint64
	FramesOut, BytesOut uint64
	// QueueBytes is what waits in the link's queues now; QueueHigh the
	// most that ever waited.
	QueueBytes, QueueHigh uint64
	// RTT is the last heartbeat round trip (PING to PONG), RTTSmoothed an
	// exponentially weighted mean of them (weight 1/8, as TCP's SRTT); zero
	// before the first PONG or with the heartbeat off.
	RTT, RTTSmoothed time.Duration
	// DeadIn and DeadOut count IS_DEAD frames read and sent.
	DeadIn, DeadOut uint64
	// Dropped counts frames from the peer that the node dropped or refused
	// by policy or quota (see CountDrop).
	Dropped uint64
	// ChunksInFlight counts chunked frames the peer has begun and not
	// ended.
	ChunksInFlight int64
}

// Stats returns a snapshot of the link's counters. It is safe for
// concurrent use; it takes the queue lock once, for QueueBytes.
func (l *Link) Stats() Stats {
	c := &l.stats
	l.mu.Lock()
	q := uint64(len(l.ctrl) + len(l.bulk) + len(l.partial))
	l.mu.Unlock()
	return Stats{
		FramesIn: c.framesIn.Load(), BytesIn: c.bytesIn.Load(),
		FramesOut: c.framesOut.Load(), BytesOut: c.bytesOut.Load(),
		QueueBytes: q, QueueHigh: c.queueHigh.Load(),
		RTT: time.Duration(c.rttLast.Load()), RTTSmoothed: time.Duration(c.rttSmooth.Load()),
		DeadIn: c.deadIn.Load(), DeadOut: c.deadOut.Load(),
		Dropped:        c.dropped.Load(),
		ChunksInFlight: max(0, c.chunksIn.Load()),
	}
}

// CountDrop counts one frame read from this link that the handler dropped
// or refused by policy or quota. It is safe for concurrent use.
func (l *Link) CountDrop() { l.stats.dropped.Add(1) }

// countIn counts frame f, just read. Only the reader goroutine calls it.
func (l *Link) countIn(f wire.Frame) {
	c := &l.stats
	c.framesIn.Add(1)
	c.bytesIn.Add(uint64(len(f.Raw)))
	switch h := f.Header(); h.Kind() {
	case wire.KindDead:
		c.deadIn.Add(1)
	case wire.KindChunk:
		fl := h.Flags()
		if fl&wire.FlagStart != 0 {
			c.chunksIn.Add(1)
		}
		if fl&wire.FlagEnd != 0 {
			c.chunksIn.Add(-1)
		}
	case wire.KindPong:
		l.pong()
	}
}

// countOut counts a frame of size bytes (on the wire) accepted by Send.
// l.mu is held, so queue is the bytes now queued.
func (l *Link) countOut(frame []byte, size int) {
	c := &l.stats
	c.framesOut.Add(1)
	c.bytesOut.Add(uint64(size))
	if wire.Header(frame).Kind() == wire.KindDead {
		c.deadOut.Add(1)
	}
}

// noteQueue raises the queue's high-water mark. l.mu is held.
func (l *Link) noteQueue() {
	if q := uint64(len(l.ctrl) + len(l.bulk)); q > l.stats.queueHigh.Load() {
		l.stats.queueHigh.Store(q)
	}
}

// pinged records when the heartbeat sent a PING, unless one is unanswered.
func (l *Link) pinged() {
	l.stats.pingSent.CompareAndSwap(0, 1+int64(time.Since(l.epoch)))
}

// pong takes the round trip of the PING a PONG answers. A PONG without a
// PING of ours (a hostile or confused peer) counts nothing.
func (l *Link) pong() {
	c := &l.stats
	t := c.pingSent.Swap(0)
	if t == 0 {
		return
	}
	rtt := max(0, int64(time.Since(l.epoch))-(t-1))
	c.rttLast.Store(rtt)
	s := c.rttSmooth.Load()
	if s == 0 {
		s = rtt
	} else {
		s += (rtt - s) / 8
	}
	c.rttSmooth.Store(s)
}
