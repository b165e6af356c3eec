package ssh_test

import (
	"log/slog"
	"testing"

	"github.com/spindle-go/spindle/internal/boottest"
	"github.com/spindle-go/spindle/internal/sshtest"
)

// TestSSH_UploadProgress: a cold start over a real sshd on 127.0.0.1
// reports its upload to Bootstrap.Progress (monotonic, ending at Total)
// and to the node's logger (at most 11 records); a warm start reports
// nothing.
func TestSSH_UploadProgress(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	logs := &boottest.TransferLog{}
	root := newRoot(t, slog.New(logs))
	reports := &boottest.ProgressLog{}
	opts := sshOpts(srv, "progress")
	opts.Progress = reports.Report
	cold := startSSH(t, root, opts)
	info := cold.Info().Boot
	if info.CacheHit || info.Uploaded == 0 {
		t.Fatalf("first start %+v, want an upload", info)
	}
	boottest.CheckUploadReports(t, reports.Take(), info)
	boottest.CheckUploadRecords(t, logs.Take("upload"), info.Uploaded)

	warm := startSSH(t, root, opts)
	if !warm.Info().Boot.CacheHit {
		t.Fatalf("second start %+v, want a cache hit", warm.Info().Boot)
	}
	if got := reports.Take(); len(got) != 0 {
		t.Errorf("warm start reported %v, want nothing", got)
	}
	if recs := logs.Take("upload"); len(recs) != 0 {
		t.Errorf("warm start logged %v, want nothing", recs)
	}
}
