package actors_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

type rawLogRecord struct {
	Level int
	Msg   string
	Attrs []string
}

func (s *logStore) count(pred func(logRec) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.recs {
		if pred(r) {
			n++
		}
	}
	return n
}

// TestQuota_ForwardLogFlood: a child flooding FORWARD_LOG gets
// Quotas.LogRate records per second logged in the root after a burst; the
// rest are dropped (ErrLogRate, once) and counted in the next record.
func TestQuota_ForwardLogFlood(t *testing.T) {
	logs := newLogStore(t)
	root := newRoot(t, actors.Config{Setup: typeSetup, Logger: logs.logger(),
		Quotas: actors.Quotas{LogRate: 10, LogBurst: 50}})
	quota := subscribeQuota(t, root)
	raw, link := attachRaw(t, root, "mallory")
	start := time.Now()
	for i := 0; i < 2000; i++ {
		raw.send(raw.spec(wire.KindForwardLog, 0), rawLogRecord{Msg: "spam"})
	}
	raw.barrier(0)
	elapsed := time.Since(start)
	spam := logs.count(func(r logRec) bool { return r.msg == "spam" })
	if max := 50 + int(10*elapsed.Seconds()) + 1; spam < 50 || spam > max {
		t.Fatalf("root logged %d of 2000 records in %v, want 50..%d", spam, elapsed, max)
	}
	if ev := recv(t, quota, waitLong, "QuotaExceeded"); !errors.Is(ev.Err, actors.ErrLogRate) || ev.Link != link.ID {
		t.Fatalf("QuotaExceeded = %+v", ev)
	}
	// One event per run of drops, not one per record dropped.
	if n := len(quota); n > 1+int(10*elapsed.Seconds())+1 {
		t.Fatalf("%d more QuotaExceeded events for %d records dropped in %v", n, 2000-spam, elapsed)
	}
	time.Sleep(200 * time.Millisecond) // refill one token at 10/s (not a speed assertion)
	raw.send(raw.spec(wire.KindForwardLog, 0), rawLogRecord{Msg: "after"})
	r := logs.wait(t, waitLong, `"after"`, func(r logRec) bool { return r.msg == "after" })
	if r.attrs["dropped_before"] == "" || r.attrs["dropped_before"] == "0" {
		t.Fatalf("record after the drops: %v, want dropped_before", r)
	}
}

// TestQuota_ForwardLogHuge: a forwarded record of 1 MiB message and
// attributes is logged cut to its bounds and marked truncated.
func TestQuota_ForwardLogHuge(t *testing.T) {
	logs := newLogStore(t)
	root := newRoot(t, actors.Config{Setup: typeSetup, Logger: logs.logger()})
	raw, _ := attachRaw(t, root, "mallory")
	big := strings.Repeat("x", 1<<20)
	attrs := make([]string, 0, 1000)
	for i := 0; i < 500; i++ {
		attrs = append(attrs, "k"+strings.Repeat("k", i), big[:1<<12+i])
	}
	raw.send(raw.spec(wire.KindForwardLog, 0), rawLogRecord{Msg: "huge" + big, Attrs: attrs})
	r := logs.wait(t, waitLong, "huge record", func(r logRec) bool { return strings.HasPrefix(r.msg, "huge") })
	if n := len(r.String()); n > 512<<10 {
		t.Fatalf("record of %d bytes logged", n)
	}
	if len(r.msg) > 8<<10 || r.attrs["truncated"] != "true" || len(r.attrs) > 64+4 {
		t.Fatalf("record msg %d bytes, %d attrs, truncated=%q", len(r.msg), len(r.attrs), r.attrs["truncated"])
	}
}

// TestQuota_SpoofFloodLogsOnce: a child sending thousands of frames with a
// spoofed source fills no logs: the first refusal per link is a warning,
// the rest are debug records.
func TestQuota_SpoofFloodLogsOnce(t *testing.T) {
	logs := newLogStore(t)
	root := newRoot(t, actors.Config{Setup: typeSetup, Logger: logs.logger()})
	raw, _ := attachRaw(t, root, "mallory")
	for i := 0; i < 1000; i++ {
		s := raw.spec(wire.KindUser, 0)
		s.Src = 4000 + uint32(i)
		raw.send(s, nil)
	}
	raw.barrier(0)
	if n := logs.count(func(r logRec) bool { return r.level >= slog.LevelWarn }); n != 1 {
		t.Fatalf("%d warnings for 1000 spoofed frames, want 1", n)
	}
}
