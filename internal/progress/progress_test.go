package progress

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) msgs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		out = append(out, rec.Message)
	}
	return out
}

// fakeClock advances by step at every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func TestDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		name           string
		since          time.Duration
		lastTenth, cur int
		total          int64
		want           bool
	}{
		{"too soon", 999 * time.Millisecond, 0, 5, 100, false},
		{"no new tenth", 5 * time.Second, 3, 3, 100, false},
		{"new tenth after a second", time.Second, 3, 4, 100, true},
		{"all done is End's", 5 * time.Second, 9, 10, 100, false},
		{"unknown total: time alone", time.Second, 0, 0, -1, true},
		{"unknown total, too soon", 10 * time.Millisecond, 0, 0, -1, false},
	} {
		if got := Due(t0, t0.Add(c.since), c.lastTenth, c.cur, c.total); got != c.want {
			t.Errorf("%s: Due = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestTenthsPercent(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		tenths, pct int
	}{{0, 100, 0, 0}, {9, 100, 0, 9}, {10, 100, 1, 10}, {99, 100, 9, 99}, {100, 100, 10, 100},
		{150, 100, 10, 100}, {5, -1, 0, -1}, {0, 0, 0, 100}, {-3, 100, 0, 0}} {
		if got := Tenths(c.done, c.total); got != c.tenths {
			t.Errorf("Tenths(%d, %d) = %d, want %d", c.done, c.total, got, c.tenths)
		}
		if got := Percent(c.done, c.total); got != c.pct && c.done >= 0 {
			t.Errorf("Percent(%d, %d) = %d, want %d", c.done, c.total, got, c.pct)
		}
	}
}

// TestMeter_Bounded: however many updates and however slow the transfer,
// a meter writes at most 11 records: start, 9 tenths, end.
func TestMeter_Bounded(t *testing.T) {
	for _, step := range []time.Duration{time.Microsecond, 100 * time.Millisecond, time.Second, time.Minute} {
		var r records
		clk := &fakeClock{t: time.Unix(0, 0), step: step}
		const total = 10 << 20
		m := Start(slog.New(&r), Spec{Op: "upload", Target: "h", Total: total, Now: clk.now})
		for done := int64(0); done <= total; done += 4 << 10 {
			m.Update(done)
		}
		m.End(nil)
		msgs := r.msgs()
		if len(msgs) < 2 || len(msgs) > 11 || msgs[0] != MsgStarted || msgs[len(msgs)-1] != MsgFinished {
			t.Errorf("step %v: %d records %v, want start, at most 9 progress, finish", step, len(msgs), msgs)
		}
		if step >= time.Second && len(msgs) != 11 {
			t.Errorf("step %v: %d records, want 11 for a slow transfer", step, len(msgs))
		}
		if step == time.Microsecond && len(msgs) != 2 {
			t.Errorf("fast transfer: %d records %v, want start and finish only", len(msgs), msgs)
		}
	}
}

func TestMeter_FailedSmallAndNil(t *testing.T) {
	var r records
	m := Start(slog.New(&r), Spec{Op: "push", Target: "ctx 3", Total: 10})
	m.Update(5)
	m.End(errors.New("boom"))
	m.End(nil) // once only
	m.Update(7)
	if msgs := r.msgs(); len(msgs) != 2 || msgs[1] != MsgFailed {
		t.Fatalf("records %v, want started, failed", msgs)
	}
	if r.recs[0].Level != slog.LevelDebug {
		t.Errorf("a small transfer logs at %v, want Debug", r.recs[0].Level)
	}
	var nilMeter *Meter
	nilMeter.Update(1)
	nilMeter.End(nil)
	quiet := Start(nil, Spec{Total: 1})
	quiet.Update(1)
	quiet.End(nil)
	if quiet.Done() != 1 {
		t.Errorf("Done %d", quiet.Done())
	}
}
