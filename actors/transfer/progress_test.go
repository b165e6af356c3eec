package transfer_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/transfer"
)

// transferRecords keeps the "transfer ..." records of a logger.
type transferRecords struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (l *transferRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *transferRecords) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "transfer ") {
		return nil
	}
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}
func (l *transferRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *transferRecords) WithGroup(string) slog.Handler      { return l }

func (l *transferRecords) take() []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.recs
	l.recs = nil
	return out
}

// TestFile_ProgressLogged: pushes and pulls are logged by the side that
// asked, with the records every Spindle transfer writes (started, at
// most 9 progress, finished or failed), whether or not a Progress
// callback is set; the serving side logs none.
func TestFile_ProgressLogged(t *testing.T) {
	rootLog, childLog := &transferRecords{}, &transferRecords{}
	root := newRoot(t, actors.Config{Logger: slog.New(rootLog)})
	c := attach(t, root, "worker", actors.Config{Logger: slog.New(childLog)})
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := make([]byte, 3<<20+5)
	_, _ = pattern{}.Read(data)
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}
	size := slog.IntValue(len(data)).String()
	var calls int
	check := func(op string, recs []map[string]string, end string) {
		t.Helper()
		if len(recs) < 2 || len(recs) > 11 {
			t.Fatalf("%s: %d records %v, want 2 to 11", op, len(recs), recs)
		}
		first, last := recs[0], recs[len(recs)-1]
		if first["msg"] != "transfer started" || first["op"] != op || first["level"] != "INFO" ||
			first["target"] != "context "+strconv.FormatUint(uint64(c.node.ID()), 10) || last["msg"] != end {
			t.Fatalf("%s: records %v", op, recs)
		}
		if end == "transfer finished" && (first["total"] != size || last["done"] != size) {
			t.Fatalf("%s: records %v, want total and done %s", op, recs, size)
		}
	}
	dst := filepath.Join(dir, "dst.bin")
	if _, err := tr(root).PushFile(timeout(t), c.node.ID(), src, dst, &transfer.FileOptions{
		Progress: func(int64, int64) { calls++ }}); err != nil {
		t.Fatal(err)
	}
	check("push", rootLog.take(), "transfer finished")
	if calls < 12 {
		t.Errorf("%d Progress calls, want one per block", calls)
	}
	if _, err := tr(root).PullFile(timeout(t), c.node.ID(), dst, filepath.Join(dir, "back.bin"), nil); err != nil {
		t.Fatal(err)
	}
	check("pull", rootLog.take(), "transfer finished")
	if _, err := tr(root).PushFile(timeout(t), c.node.ID(), src, filepath.Join(dir, "no", "such", "dir"), nil); err == nil {
		t.Fatal("a push into a missing directory succeeded")
	}
	check("push", rootLog.take(), "transfer failed")
	if recs := childLog.take(); len(recs) != 0 {
		t.Errorf("the serving side logged %v, want nothing", recs)
	}
}
