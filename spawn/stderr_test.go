package spawn

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// stderrRecs captures the records of a stderrForwarder.
type stderrRecs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (s *stderrRecs) Enabled(context.Context, slog.Level) bool { return true }
func (s *stderrRecs) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	s.recs = append(s.recs, r.Clone())
	s.mu.Unlock()
	return nil
}
func (s *stderrRecs) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *stderrRecs) WithGroup(string) slog.Handler      { return s }

func (s *stderrRecs) lines() (lines []string, parts int, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "line":
				lines = append(lines, a.Value.String())
			case "part":
				parts++
			case "count":
				dropped += int(a.Value.Int64())
			}
			return true
		})
	}
	return lines, parts, dropped
}

// runStderr runs script under sh with its stderr forwarded and returns the
// captured records once the process exited; the process must exit 0 (not
// die of SIGPIPE because the forwarder stopped reading).
func runStderr(t *testing.T, script string) (*stderrRecs, *stderrForwarder) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(sh, "-c", script)
	r, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	recs := &stderrRecs{}
	f := forwardStderr(r, slog.New(recs))
	done := make(chan struct{})
	go func() { f.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the forwarder did not reach EOF")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v (a forwarder that stops reading makes it die of SIGPIPE)", err)
	}
	return recs, f
}

// TestStderr_LongLine: a 2 MiB stderr line is logged in pieces of at most
// 16 KiB and the forwarder goes on reading (today the child died of
// SIGPIPE).
func TestStderr_LongLine(t *testing.T) {
	recs, f := runStderr(t, `head -c 2097152 /dev/zero | tr '\0' x >&2; echo >&2; echo after >&2`)
	lines, parts, _ := recs.lines()
	total := 0
	for _, l := range lines[:len(lines)-1] {
		if len(l) > stderrMaxLine {
			t.Fatalf("a piece of %d bytes", len(l))
		}
		total += len(l)
	}
	if total != 2<<20 || parts != len(lines)-1 || lines[len(lines)-1] != "after" {
		t.Fatalf("%d pieces (%d with part) of %d bytes, last %q", len(lines)-1, parts, total, lines[len(lines)-1])
	}
	if tail := f.tail(); len(tail) > stderrTail*(stderrTailLine+1) || !strings.HasSuffix(tail, "after") {
		t.Fatalf("tail of %d bytes", len(tail))
	}
}

// TestStderr_Flood: a child writing lines faster than the rate is never
// blocked; the excess is dropped and counted.
func TestStderr_Flood(t *testing.T) {
	recs, _ := runStderr(t, `i=0; while [ $i -lt 5000 ]; do echo "line $i" >&2; i=$((i+1)); done`)
	lines, _, dropped := recs.lines()
	if len(lines)+dropped != 5000 || dropped == 0 {
		t.Fatalf("%d lines logged, %d dropped, want 5000 in all with some dropped", len(lines), dropped)
	}
}

// TestStderr_LinesLongerThanTheBuffer: a line longer than the forwarder's
// small read buffer but within stderrMaxLine is logged whole, as one line;
// a longer one in pieces of stderrMaxLine, each marked as a part; the
// lines around them are not disturbed.
func TestStderr_LinesLongerThanTheBuffer(t *testing.T) {
	recs, _ := runStderr(t, `echo before >&2; head -c 5000 /dev/zero | tr '\0' a >&2; echo >&2; `+
		`head -c 20000 /dev/zero | tr '\0' b >&2; echo >&2; echo after >&2`)
	lines, parts, _ := recs.lines()
	want := []int{len("before"), 5000, stderrMaxLine, 20000 - stderrMaxLine, len("after")}
	if len(lines) != len(want) || parts != 2 {
		t.Fatalf("%d lines (%d parts), want %d with 2 parts", len(lines), parts, len(want))
	}
	for i, l := range lines {
		if len(l) != want[i] {
			t.Fatalf("line %d: %d bytes, want %d", i, len(l), want[i])
		}
	}
	if lines[0] != "before" || lines[4] != "after" || strings.Trim(lines[1], "a") != "" || strings.Trim(lines[2]+lines[3], "b") != "" {
		t.Fatalf("lines %.20q", lines)
	}
}

// TestStderr_IdleForwarderIsSmall bounds what the parent holds per child
// for the stderr of a child that writes nothing (most do): its read
// buffer and logger. A 16 KiB buffer per child was 40% of the root's heap
// per idle context.
func TestStderr_IdleForwarderIsSmall(t *testing.T) {
	const n = 64
	var ws []*os.File
	var fs []*stderrForwarder
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
		fs = append(fs, forwardStderr(r, slog.New(&stderrRecs{}), "child", "idle", "pid", 1))
	}
	time.Sleep(50 * time.Millisecond) // each forwarder is waiting in its first read
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	for i, w := range ws {
		_ = w.Close()
		fs[i].wait()
	}
	t.Logf("%.0f bytes of heap per idle forwarder", per)
	if per > 4<<10 {
		t.Fatalf("an idle forwarder holds %.0f bytes of heap, want under 4 KiB", per)
	}
}
