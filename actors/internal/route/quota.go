package route

import (
	"errors"
	"fmt"
	"time"
)

// Quota errors. Each is charged to the child link the resource came
// through, so a subtree's budget is the budget of the link it lives behind.
var (
	// ErrIDQuota: the subtree behind a link holds its maximum of granted
	// context IDs.
	ErrIDQuota = errors.New("actors: quota: context IDs granted through this link exhausted")
	// ErrIDRate: the subtree behind a link asked for ID blocks faster than
	// its rate.
	ErrIDRate = errors.New("actors: quota: ID blocks requested too fast through this link")
	// ErrLogRate: the subtree behind a link forwarded log records faster
	// than its rate.
	ErrLogRate = errors.New("actors: quota: log records forwarded too fast through this link")
)

// Limits are the per-link quotas a Table enforces. Zero fields mean the
// defaults documented on each.
type Limits struct {
	// GrantedIDs is the most context IDs granted, in all, to the subtree
	// behind one child link while it is up. Default 65,536.
	GrantedIDs uint32
	// BlockRate is how many ID blocks per second one child link may ask
	// for, after a burst of BlockBurst. Defaults 50 and 100.
	BlockRate  float64
	BlockBurst float64
	// LogRate is how many FORWARD_LOG records per second one child link may
	// forward, after a burst of LogBurst; the rest are dropped and counted.
	// Defaults 1,000 and 2,000.
	LogRate  float64
	LogBurst float64
	// DeadRecords is how many dead contexts the table remembers; the
	// oldest are forgotten first (a forgotten one is unknown again: the
	// root answers "no route", other contexts route toward the root).
	// Default 4,096.
	DeadRecords int
	// EgressIDs is how many egress records (egress.go) one child link may
	// hold; a link that would hold more is flooded: it gets every
	// DEL_ROUTE. Negative: every link is flooded (no records). Default
	// 1,024.
	EgressIDs int
}

// Default limits.
const (
	DefaultGrantedIDs  = 1 << 16
	DefaultBlockRate   = 50
	DefaultBlockBurst  = 100
	DefaultLogRate     = 1000
	DefaultLogBurst    = 2000
	DefaultDeadRecords = 4096
	DefaultEgressIDs   = 1024
)

func (l *Limits) setDefaults() {
	if l.GrantedIDs == 0 {
		l.GrantedIDs = DefaultGrantedIDs
	}
	if l.BlockRate <= 0 {
		l.BlockRate = DefaultBlockRate
	}
	if l.BlockBurst < 1 {
		l.BlockBurst = DefaultBlockBurst
	}
	if l.LogRate <= 0 {
		l.LogRate = DefaultLogRate
	}
	if l.LogBurst < 1 {
		l.LogBurst = DefaultLogBurst
	}
	if l.DeadRecords <= 0 {
		l.DeadRecords = DefaultDeadRecords
	}
	if l.EgressIDs == 0 {
		l.EgressIDs = DefaultEgressIDs
	}
}

// bucket is a token bucket driven by the times its owner passes in.
type bucket struct {
	tokens float64
	last   time.Time
}

// take takes one token at now from a bucket filling at rate per second up
// to burst; a new bucket starts full.
func (b *bucket) take(now time.Time, rate, burst float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// linkQuota is the usage charged to one child link.
type linkQuota struct {
	granted uint64 // IDs granted through the link
	blocks  bucket
	logs    bucket
	tripped uint16 // quotas already reported once (bit per quota)

	logDropped uint64 // log records refused since the last one allowed
}

// Quota bits for [Table.FirstTrip].
const (
	TripIDs uint16 = 1 << iota
	TripLogs
	TripChunks
	// Refusals logged once per link (not quotas, but log volume).
	TripSpoofed
	TripChunkBroken
	TripAddRoute
	TripShutdown
)

func (t *Table) quota(via uint32) *linkQuota {
	q, ok := t.usage[via]
	if !ok {
		q = &linkQuota{}
		t.usage[via] = q
	}
	return q
}

// AllowGrant decides whether the link to child via may be granted count
// more IDs at now; it charges the link when it may. Errors wrap
// [ErrIDQuota] or [ErrIDRate].
func (t *Table) AllowGrant(via, count uint32, now time.Time) error {
	q := t.quota(via)
	if q.granted+uint64(count) > uint64(t.lim.GrantedIDs) {
		return fmt.Errorf("%w: %d granted, limit %d", ErrIDQuota, q.granted, t.lim.GrantedIDs)
	}
	if !q.blocks.take(now, t.lim.BlockRate, t.lim.BlockBurst) {
		return fmt.Errorf("%w: over %g blocks per second", ErrIDRate, t.lim.BlockRate)
	}
	q.granted += uint64(count)
	return nil
}

// AllowLog decides whether the link to child via may forward one more log
// record at now. Refused, it returns how many records in a row were
// refused so far, this one included, and an error wrapping [ErrLogRate];
// allowed, how many were refused since the last allowed one.
func (t *Table) AllowLog(via uint32, now time.Time) (dropped uint64, err error) {
	q := t.quota(via)
	if !q.logs.take(now, t.lim.LogRate, t.lim.LogBurst) {
		q.logDropped++
		return q.logDropped, fmt.Errorf("%w: over %g records per second", ErrLogRate, t.lim.LogRate)
	}
	dropped, q.logDropped = q.logDropped, 0
	return dropped, nil
}

// FirstTrip reports whether quota bit trips for the first time on the link
// to child via (so its owner logs once per link, not once per frame).
func (t *Table) FirstTrip(via uint32, bit uint16) bool {
	q := t.quota(via)
	first := q.tripped&bit == 0
	q.tripped |= bit
	return first
}
