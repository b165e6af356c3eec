package command_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/boottest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
)

// TestCommand_UploadProgress: a cold start through the command method (a
// real sh on this machine) reports its upload to Bootstrap.Progress and
// to the node's logger, a bounded number of records; a warm start
// reports nothing.
func TestCommand_UploadProgress(t *testing.T) {
	logs := &boottest.TransferLog{}
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = root.Shutdown(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reports := &boottest.ProgressLog{}
	opts := command.Options{Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{CacheDirs: []string{t.TempDir()},
		Timeout: 3 * time.Minute, Progress: reports.Report}}
	cold, err := command.Start(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	info := cold.Info().Boot
	if info.CacheHit || info.Uploaded == 0 {
		t.Fatalf("first start %+v, want an upload", info)
	}
	boottest.CheckUploadReports(t, reports.Take(), info)
	boottest.CheckUploadRecords(t, logs.Take("upload"), info.Uploaded)

	warm, err := command.Start(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !warm.Info().Boot.CacheHit {
		t.Fatalf("second start %+v, want a cache hit", warm.Info().Boot)
	}
	if got := reports.Take(); len(got) != 0 {
		t.Errorf("warm start reported %v, want nothing", got)
	}
	if recs := logs.Take("upload"); len(recs) != 0 {
		t.Errorf("warm start logged %v, want nothing", recs)
	}
	for _, c := range []spawn.Child{cold, warm} {
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}
