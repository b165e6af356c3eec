package ssh_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
)

// (Copied from spawn/command/progress_test.go: each method's suite checks the same.)

// transferLog keeps the transfer records ("transfer started", ...) a
// node's logger receives, with their attributes.
type transferLog struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (l *transferLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *transferLog) Handle(_ context.Context, r slog.Record) error {
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
func (l *transferLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *transferLog) WithGroup(string) slog.Handler      { return l }

func (l *transferLog) take(op string) []map[string]string {
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

// progressLog keeps what Bootstrap.Progress was told.
type progressLog struct {
	mu  sync.Mutex
	got []spawn.Progress
}

func (p *progressLog) report(r spawn.Progress) {
	p.mu.Lock()
	p.got = append(p.got, r)
	p.mu.Unlock()
}

func (p *progressLog) take() []spawn.Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.got
	p.got = nil
	return out
}

// checkUploadReports: Done starts at 0, never decreases, ends at Total,
// which is what was uploaded; every report names the phase, the target
// and the codec.
func checkUploadReports(t *testing.T, got []spawn.Progress, info spawn.BootstrapInfo) {
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

// checkUploadRecords: the upload is logged as started, then at most 9
// progress records, then finished with every byte; at most 11 in all.
func checkUploadRecords(t *testing.T, recs []map[string]string, uploaded int64) {
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

// TestSSH_UploadProgress: a cold start over a real sshd on 127.0.0.1
// reports its upload to Bootstrap.Progress (monotonic, ending at Total)
// and to the node's logger (at most 11 records); a warm start reports
// nothing.
func TestSSH_UploadProgress(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	logs := &transferLog{}
	root := newRoot(t, slog.New(logs))
	reports := &progressLog{}
	opts := sshOpts(srv, "progress")
	opts.Progress = reports.report
	cold := startSSH(t, root, opts)
	info := cold.Info().Boot
	if info.CacheHit || info.Uploaded == 0 {
		t.Fatalf("first start %+v, want an upload", info)
	}
	checkUploadReports(t, reports.take(), info)
	checkUploadRecords(t, logs.take("upload"), info.Uploaded)

	warm := startSSH(t, root, opts)
	if !warm.Info().Boot.CacheHit {
		t.Fatalf("second start %+v, want a cache hit", warm.Info().Boot)
	}
	if got := reports.take(); len(got) != 0 {
		t.Errorf("warm start reported %v, want nothing", got)
	}
	if recs := logs.take("upload"); len(recs) != 0 {
		t.Errorf("warm start logged %v, want nothing", recs)
	}
}
