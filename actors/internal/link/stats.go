package link

import (
	"sync/atomic"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// counters are a link's statistics. The reader's are atomics that only the
// reader goroutine writes (frames read are Link.rx, which Send already
// reads); the senders' are plain fields of outCounters under l.mu, which
// Send holds anyway, so the hot path takes no extra lock and makes one
// atomic add per frame read. Stats reads both.
type counters struct {
	bytesIn            atomic.Uint64 // bytes of the frames read (heartbeats included)
	deadIn             atomic.Uint64 // IS_DEAD frames read
	dropped            atomic.Uint64 // frames from the peer dropped by policy or quota (CountDrop)
	chunksIn           atomic.Int64  // chunked frames begun and not yet ended, read from the peer
	rttLast, rttSmooth atomic.Int64  // heartbeat round trips, ns (smooth: EWMA, 1/8)
	pingSent           atomic.Int64  // 1 + ns since epoch of the unanswered PING, or 0
}

// outCounters are the senders' counters; l.mu guards them.
type outCounters struct {
	frames, bytes uint64 // frames accepted by Send, their bytes on the wire
	dead          uint64 // IS_DEAD frames sent (own and forwarded)
	queueHigh     uint64 // the most bytes ever queued (control + bulk)
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
	q := uint64(len(l.ctrl) + l.bulk.Len() + len(l.partial))
	out := l.out
	l.mu.Unlock()
	return Stats{
		FramesIn: l.rx.Load(), BytesIn: c.bytesIn.Load(),
		FramesOut: out.frames, BytesOut: out.bytes,
		QueueBytes: q, QueueHigh: out.queueHigh,
		RTT: time.Duration(c.rttLast.Load()), RTTSmoothed: time.Duration(c.rttSmooth.Load()),
		DeadIn: c.deadIn.Load(), DeadOut: out.dead,
		Dropped:        c.dropped.Load(),
		ChunksInFlight: max(0, c.chunksIn.Load()),
	}
}

// CountDrop counts one frame read from this link that the handler dropped
// or refused by policy or quota. It is safe for concurrent use.
func (l *Link) CountDrop() { l.stats.dropped.Add(1) }

// countIn counts frame f, just read (l.rx counted it already). Only the
// reader goroutine calls it.
func (l *Link) countIn(f wire.Frame) {
	c := &l.stats
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
// l.mu is held.
func (l *Link) countOut(frame []byte, size int) {
	l.out.frames++
	l.out.bytes += uint64(size)
	if wire.Header(frame).Kind() == wire.KindDead {
		l.out.dead++
	}
}

// noteQueue raises the queue's high-water mark. l.mu is held.
func (l *Link) noteQueue() {
	l.out.queueHigh = max(l.out.queueHigh, uint64(len(l.ctrl)+l.bulk.Len()))
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
