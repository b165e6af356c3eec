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

// heartLoop sends PING when the link has been quiet for an interval and
// declares the link dead when its reader has waited longer than the
// timeout. It wakes at the earlier of the next ping and the deadline.
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
		next := hb.Interval
		if idle := time.Duration(int64(now) - l.lastSent()); idle >= hb.Interval {
			l.Ping(wire.KindPing)
		} else {
			next = hb.Interval - idle
		}
		if s := l.live.silence(time.Since(l.live.epoch)); s > 0 {
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
