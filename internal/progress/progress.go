// Package progress logs the bytes of one transfer (a bootstrap's upload of
// the binary, a binary fetched between hops, a file pushed or pulled) as
// slog records at a bounded rate, so that every part of Spindle reports a
// transfer the same way (docs/observability.md, "Upload progress").
//
// # Usage
//
//	m := progress.Start(logger, progress.Spec{Op: "upload", Target: host, Total: n})
//	for ... { sent += k; m.Update(sent) }
//	m.End(err)
//
// A Meter writes one record when the transfer starts ("transfer started"),
// one when it ends ("transfer finished" or "transfer failed"), and in
// between ("transfer progress") at most one per second and only when
// another tenth of the total is done: at most 11 records per transfer
// whatever its size, fewer for one that takes less than a few seconds. The
// records of a transfer whose total is known and under SmallTotal are at
// Debug, the others at Info.
//
// A Meter is not safe for concurrent use: one goroutine moves the bytes
// and updates it.
package progress

import (
	"context"
	"log/slog"
	"time"
)

// Record messages, the same for every kind of transfer.
const (
	MsgStarted  = "transfer started"
	MsgProgress = "transfer progress"
	MsgFinished = "transfer finished"
	MsgFailed   = "transfer failed"
)

// SmallTotal is the size under which a transfer's records are at Debug.
const SmallTotal = 1 << 20

// MinInterval is the least time between two progress records.
const MinInterval = time.Second

// Spec names a transfer.
type Spec struct {
	Op     string // "upload", "fetch", "serve", "push", "pull"
	Target string // the other side: a host, a context
	Total  int64  // bytes in all, as they cross the stream; -1 when not known
	Attrs  []any  // more key/value pairs for every record (path, codec, ...)
	// Now is the clock; nil means time.Now (tests inject one).
	Now func() time.Time
}

// Meter reports one transfer. The zero Meter and a nil *Meter do nothing.
type Meter struct {
	log   *slog.Logger
	level slog.Level
	attrs []any
	total int64
	now   func() time.Time
	begin time.Time
	last  time.Time // of the last record
	tenth int       // tenths of the total done at the last record
	done  int64
	ended bool
}

// Start logs the start of a transfer on log (nil: nothing is logged) and
// returns its Meter.
func Start(log *slog.Logger, s Spec) *Meter {
	m := &Meter{log: log, total: s.Total, now: s.Now, level: slog.LevelInfo}
	if m.now == nil {
		m.now = time.Now
	}
	if s.Total >= 0 && s.Total < SmallTotal {
		m.level = slog.LevelDebug
	}
	m.attrs = append([]any{"op", s.Op, "target", s.Target}, s.Attrs...)
	m.begin = m.now()
	m.last = m.begin
	m.record(MsgStarted, "total", s.Total)
	return m
}

// Update records that done bytes are done in all (not since the last
// call). It logs when Due says so.
func (m *Meter) Update(done int64) {
	if m == nil || m.ended {
		return
	}
	m.done = done
	if m.log == nil {
		return
	}
	now := m.now()
	t := Tenths(done, m.total)
	if !Due(m.last, now, m.tenth, t, m.total) {
		return
	}
	m.last, m.tenth = now, t
	m.record(MsgProgress, "done", done, "total", m.total, "pct", Percent(done, m.total), "elapsed", now.Sub(m.begin).Round(time.Millisecond))
}

// End logs the end of the transfer: finished when err is nil, failed
// otherwise. Later calls do nothing.
func (m *Meter) End(err error) {
	if m == nil || m.ended {
		return
	}
	m.ended = true
	took := m.now().Sub(m.begin)
	rate := int64(0)
	if took > 0 {
		rate = int64(float64(m.done) / took.Seconds())
	}
	if err != nil {
		m.record(MsgFailed, "done", m.done, "total", m.total, "took", took.Round(time.Millisecond), "err", err)
		return
	}
	m.record(MsgFinished, "done", m.done, "took", took.Round(time.Millisecond), "bytes_per_sec", rate)
}

// Done returns the bytes done at the last Update.
func (m *Meter) Done() int64 {
	if m == nil {
		return 0
	}
	return m.done
}

func (m *Meter) record(msg string, kv ...any) {
	if m.log == nil {
		return
	}
	m.log.Log(context.Background(), m.level, msg, append(append([]any(nil), m.attrs...), kv...)...)
}

// Due reports whether a progress record is due: at least MinInterval since
// the last record, and (when the total is known) another tenth done but
// not all of it (End reports that). It is a pure function of its arguments.
func Due(last, now time.Time, lastTenth, tenth int, total int64) bool {
	if now.Sub(last) < MinInterval {
		return false
	}
	return total < 0 || (tenth > lastTenth && tenth < 10)
}

// Tenths returns how many whole tenths of total done is (0 when total is
// not known or not positive; at most 10).
func Tenths(done, total int64) int {
	if total <= 0 || done <= 0 {
		return 0
	}
	if done >= total {
		return 10
	}
	return int(done * 10 / total)
}

// Percent returns done as a whole percentage of total (-1 when total is
// not known).
func Percent(done, total int64) int {
	if total < 0 {
		return -1
	}
	if total == 0 || done >= total {
		return 100
	}
	return int(done * 100 / total)
}
