package boottest

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/spindle-go/spindle/spawn"
)

// TransferLog is an slog.Handler that keeps the transfer records
// ("transfer started", ...) a node's logger receives, with their
// attributes.
type TransferLog struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (l *TransferLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *TransferLog) Handle(_ context.Context, r slog.Record) error {
	if len(r.Message) < 9 || r.Message[:9] != "transfer " {
		return nil
	}
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}
func (l *TransferLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *TransferLog) WithGroup(string) slog.Handler      { return l }

// Take returns the records of operation op (upload, fetch, push, pull)
// and forgets them.
func (l *TransferLog) Take(op string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out, rest []map[string]string
	for _, r := range l.recs {
		if r["op"] == op {
			out = append(out, r)
		} else {
			rest = append(rest, r)
		}
	}
	l.recs = rest
	return out
}

// ProgressLog keeps what Bootstrap.Progress was told.
type ProgressLog struct {
	mu  sync.Mutex
	got []spawn.Progress
}

// Report is a Bootstrap.Progress callback.
func (p *ProgressLog) Report(r spawn.Progress) {
	p.mu.Lock()
	p.got = append(p.got, r)
	p.mu.Unlock()
}

// Take returns the reports so far and forgets them.
func (p *ProgressLog) Take() []spawn.Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.got
	p.got = nil
	return out
}

// CheckUploadReports: Done starts at 0, never decreases, ends at Total,
// which is what was uploaded; every report names the phase, the target
// and the codec.
func CheckUploadReports(t *testing.T, got []spawn.Progress, info spawn.BootstrapInfo) {
	t.Helper()
	if len(got) < 2 {
		t.Fatalf("%d progress reports on a cold start, want at least 2", len(got))
	}
	if got[0].Done != 0 {
		t.Errorf("first report %+v, want Done 0", got[0])
	}
	for i, p := range got {
		if p.Phase != spawn.PhaseUpload || p.Target == "" || p.Codec != info.Codec || p.Total != info.Uploaded || p.Size <= 0 {
			t.Fatalf("report %d: %+v, want phase upload, a target, codec %s, total %d", i, p, info.Codec, info.Uploaded)
		}
		if i > 0 && p.Done < got[i-1].Done {
			t.Fatalf("report %d: Done %d after %d", i, p.Done, got[i-1].Done)
		}
	}
	if last := got[len(got)-1]; last.Done != last.Total {
		t.Errorf("last report %+v, want Done == Total", last)
	}
}

// CheckUploadRecords: the upload is logged as started, then at most 9
// progress records, then finished with every byte; at most 11 in all.
func CheckUploadRecords(t *testing.T, recs []map[string]string, uploaded int64) {
	t.Helper()
	if len(recs) < 2 || len(recs) > 11 {
		t.Fatalf("%d upload records, want 2 to 11: %v", len(recs), recs)
	}
	first, last := recs[0], recs[len(recs)-1]
	if first["msg"] != "transfer started" || last["msg"] != "transfer finished" || first["level"] != "INFO" {
		t.Fatalf("records %v, want started (INFO) ... finished", recs)
	}
	if want := itoa(uploaded); first["total"] != want || last["done"] != want {
		t.Errorf("records %v, want total and done %s", recs, want)
	}
}

func itoa(n int64) string { return slog.Int64Value(n).String() }
