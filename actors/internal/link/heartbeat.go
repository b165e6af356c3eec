package link

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// ErrHeartbeatTimeout is the sentinel behind *HeartbeatError. Package
// actors exports it as actors.ErrHeartbeatTimeout.
var ErrHeartbeatTimeout = errors.New("actors: heartbeat timeout")

// HeartbeatError is the reason a link was declared dead because its peer
// sent nothing for longer than the heartbeat timeout: a stopped (SIGSTOP)
// or hung process, or a silent network cut. It matches ErrHeartbeatTimeout.
type HeartbeatError struct {
	Peer    string        // the peer's name ("parent" on a child's side)
	Silence time.Duration // how long the reader waited for bytes
	Timeout time.Duration // the configured timeout
}

func (e *HeartbeatError) Error() string {
	return fmt.Sprintf("heartbeat timeout: no bytes from %s for %v (timeout %v)",
		e.Peer, e.Silence.Round(time.Millisecond), e.Timeout)
}

// Is makes errors.Is(err, ErrHeartbeatTimeout) work.
func (e *HeartbeatError) Is(target error) bool { return target == ErrHeartbeatTimeout }

// ErrWriteStalled is the sentinel behind *WriteStallError. Package actors
// exports it as actors.ErrWriteStalled.
var ErrWriteStalled = errors.New("actors: link writer stalled")

// WriteStallError is the reason a link was declared dead because its writer
// made no progress for the heartbeat timeout while it had bytes to write:
// the peer stopped reading (though it may still be sending, heartbeats
// included). It matches ErrWriteStalled.
type WriteStallError struct {
	Peer    string        // the peer's name ("parent" on a child's side)
	Stall   time.Duration // how long the current write had made no progress
	Timeout time.Duration // the configured heartbeat timeout
}

func (e *WriteStallError) Error() string {
	return fmt.Sprintf("write stalled: %s took no bytes for %v (timeout %v)",
		e.Peer, e.Stall.Round(time.Millisecond), e.Timeout)
}

// Is makes errors.Is(err, ErrWriteStalled) work.
func (e *WriteStallError) Is(target error) bool { return target == ErrWriteStalled }

// Heartbeat holds a link's heartbeat settings: a PING after Interval of
// quiet, death after Timeout of silence. Zero means off.
type Heartbeat struct {
	Interval, Timeout time.Duration
}

// On reports whether the heartbeat is on.
func (h Heartbeat) On() bool { return h.Interval > 0 && h.Timeout > 0 }

// HelloMS returns h in the Hello's milliseconds.
func (h Heartbeat) HelloMS() (ms, timeoutMS uint32) {
	if !h.On() {
		return 0, 0
	}
	return uint32(h.Interval / time.Millisecond), uint32(h.Timeout / time.Millisecond)
}

// HeartbeatFromHello returns the heartbeat a hello announces.
func HeartbeatFromHello(h wire.Hello) Heartbeat {
	if h.HeartbeatMS == 0 || h.TimeoutMS == 0 {
		return Heartbeat{}
	}
	return Heartbeat{time.Duration(h.HeartbeatMS) * time.Millisecond, time.Duration(h.TimeoutMS) * time.Millisecond}
}

// liveReader wraps a link's byte stream and records whether, and since
// when, the reader is waiting for bytes. Silence is judged only while the
// reader waits: a reader busy handling frames (or blocked by backpressure)
// never blames its peer.
type liveReader struct {
	r     io.Reader
	epoch time.Time
	// waiting is 1 + nanoseconds since epoch when the current Read began,
	// or 0 when no Read is in progress.
	waiting atomic.Int64
}

func newLiveReader(r io.Reader) *liveReader { return &liveReader{r: r, epoch: time.Now()} }

func (lr *liveReader) Read(p []byte) (int, error) {
	lr.waiting.Store(1 + int64(time.Since(lr.epoch)))
	n, err := lr.r.Read(p)
	lr.waiting.Store(0)
	return n, err
}

// silence returns how long the current Read has waited (0 when none is in
// progress) at now, a time since epoch.
func (lr *liveReader) silence(now time.Duration) time.Duration {
	w := lr.waiting.Load()
	if w == 0 {
		return 0
	}
	return max(0, now-time.Duration(w-1))
}

// stallPiece is the most a liveWriter hands the transport in one Write, so
// that a slow peer that reads shows progress at least this often.
const stallPiece = 32 << 10

// liveWriter wraps a link's writer and records whether, and since when, a
// write has been waiting for the peer without progress. Only the goroutine
// that holds the link's writing flag writes through it.
type liveWriter struct {
	w     interface{ Write([]byte) (int, error) }
	epoch time.Time
	// busy is 1 + nanoseconds since epoch when the current write last made
	// progress (or began), or 0 when no write is in progress.
	busy atomic.Int64
}

func (lw *liveWriter) begin() { lw.busy.Store(1 + int64(time.Since(lw.epoch))) }
func (lw *liveWriter) end()   { lw.busy.Store(0) }

// Write writes p in pieces of at most stallPiece bytes, marking progress
// after each.
func (lw *liveWriter) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		lw.begin()
		n, err := lw.w.Write(p[written:min(len(p), written+stallPiece)])
		written += n
		if err != nil {
			lw.end()
			return written, err
		}
	}
	lw.end()
	return written, nil
}

// stall returns how long the current write has made no progress (0 when
// none is in progress) at now, a time since epoch.
func (lw *liveWriter) stall(now time.Duration) time.Duration {
	b := lw.busy.Load()
	if b == 0 {
		return 0
	}
	return max(0, now-time.Duration(b-1))
}

// heartLoop sends PING when the link has been quiet for an interval and
// declares the link dead when its reader has waited longer than the
// timeout (*HeartbeatError) or its writer has made no progress for that
// long (*WriteStallError). It wakes at the earlier of the next ping and the
// deadlines.
func (l *Link) heartLoop() {
	defer l.wg.Done()
	hb := l.hb
	t := time.NewTimer(hb.Interval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		now := time.Since(l.live.epoch)
		if s := l.live.silence(now); s >= hb.Timeout {
			l.log.Warn("link silent, declaring it dead", "peer", l.name, "peer_id", l.peer,
				"silence", s, "timeout", hb.Timeout)
			l.Shutdown(&HeartbeatError{Peer: l.name, Silence: s, Timeout: hb.Timeout})
			return
		}
		if s := l.lw.stall(now); s >= hb.Timeout {
			l.log.Warn("link writer stalled, declaring it dead", "peer", l.name, "peer_id", l.peer,
				"stall", s, "timeout", hb.Timeout)
			l.Shutdown(&WriteStallError{Peer: l.name, Stall: s, Timeout: hb.Timeout})
			return
		}
		next := hb.Interval
		if idle := time.Duration(int64(now) - l.lastSent()); idle >= hb.Interval {
			l.pinged()
			l.Ping(wire.KindPing)
		} else {
			next = hb.Interval - idle
		}
		now = time.Since(l.live.epoch)
		if s := l.live.silence(now); s > 0 {
			next = min(next, hb.Timeout-s)
		}
		if s := l.lw.stall(now); s > 0 {
			next = min(next, hb.Timeout-s)
		}
		t.Reset(max(next, time.Millisecond))
	}
}

// Ping sends a link-local PING or PONG ahead of queued bulk frames.
func (l *Link) Ping(k wire.Kind) {
	var b [wire.HeaderSize]byte
	f := wire.AppendFrame(b[:0], wire.FrameSpec{Kind: k, Dst: l.peer, Src: l.local, Auth: l.local}, nil, nil)
	_ = l.Send(f, Control)
}
