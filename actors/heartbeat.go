package actors

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// Heartbeat defaults (Config.HeartbeatInterval, Config.HeartbeatTimeout).
const (
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTimeout  = 5 * time.Second
)

// ErrHeartbeatTimeout is the sentinel behind *HeartbeatError.
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

// heartbeat holds a link's heartbeat settings; zero interval means off.
type heartbeat struct {
	interval, timeout time.Duration
}

func (h heartbeat) on() bool { return h.interval > 0 && h.timeout > 0 }

// hello returns h in the Hello's milliseconds.
func (h heartbeat) hello() (ms, timeoutMS uint32) {
	if !h.on() {
		return 0, 0
	}
	return uint32(h.interval / time.Millisecond), uint32(h.timeout / time.Millisecond)
}

func heartbeatFromHello(h wire.Hello) heartbeat {
	if h.HeartbeatMS == 0 || h.TimeoutMS == 0 {
		return heartbeat{}
	}
	return heartbeat{time.Duration(h.HeartbeatMS) * time.Millisecond, time.Duration(h.TimeoutMS) * time.Millisecond}
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
func (l *link) heartLoop() {
	defer l.wg.Done()
	hb := l.hb
	t := time.NewTimer(hb.interval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		now := time.Since(l.live.epoch)
		if s := l.live.silence(now); s >= hb.timeout {
			l.node.log.Warn("link silent, declaring it dead", "peer", l.peerName, "peer_id", l.peer,
				"silence", s, "timeout", hb.timeout)
			l.shutdown(&HeartbeatError{Peer: l.peerName, Silence: s, Timeout: hb.timeout})
			return
		}
		next := hb.interval
		if idle := time.Duration(int64(now) - l.lastSent()); idle >= hb.interval {
			l.ping(wire.KindPing)
		} else {
			next = hb.interval - idle
		}
		if s := l.live.silence(time.Since(l.live.epoch)); s > 0 {
			next = min(next, hb.timeout-s)
		}
		t.Reset(max(next, time.Millisecond))
	}
}

// ping sends a link-local PING or PONG ahead of queued bulk frames.
func (l *link) ping(k wire.Kind) {
	var b [wire.HeaderSize]byte
	f := wire.AppendFrame(b[:0], wire.FrameSpec{Kind: k, Dst: l.peer, Src: l.node.id, Auth: l.node.id}, nil, nil)
	_ = l.send(f, control)
}
