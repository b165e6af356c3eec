package spawn_test

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
)

// selfRSSKiB returns this process's resident set size in KiB.
func selfRSSKiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb
		}
	}
	return 0
}

// checkProcessLimits fails b when the descriptor or process limits cannot
// hold a tree of mids intermediates with per children each: an
// intermediate holds about 4 descriptors per child (link, stderr, pidfd),
// and every process has several threads.
func checkProcessLimits(b *testing.B, mids, per int) {
	var nofile, nproc syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	_ = syscall.Getrlimit(6 /* RLIMIT_NPROC */, &nproc)
	b.Logf("limits: open files %d (hard %d), processes/threads %d (hard %d)", nofile.Cur, nofile.Max, nproc.Cur, nproc.Max)
	if uint64(nofile.Cur) < uint64(4*per+256) || uint64(nofile.Cur) < uint64(4*mids+256) {
		b.Fatalf("ulimit -n %d is too low for %d children per intermediate: raise it to %d", nofile.Cur, per, 4*per+256)
	}
	if uint64(nproc.Cur) < uint64(16*mids*(per+1)) {
		b.Fatalf("ulimit -u %d is too low for %d processes of ~10 threads", nproc.Cur, mids*(per+1))
	}
}

// BenchmarkVia1000 builds a tree of 10 intermediates x 100 children (1,010
// local contexts, each child started through its intermediate, all at
// once), reaches every context with a call, lets it idle, then kills one
// intermediate. It reports, per iteration: start-s (start all and reach
// all), root-heap-KiB/ctx (live heap after GC, growth per context),
// root-RSS-KiB/ctx, root-goroutines/ctx, child-PSS-KiB and mid-PSS-KiB
// (mean PSS of the leaves and of the intermediates, smaps_rollup), and
// kill-ms (SIGKILL of an intermediate to the last of its 101 ContextDown
// at the root); then checks that no process behind it is left. Not run in
// CI (-bench only): go test ./spawn -run '^$' -bench Via1000 -benchtime 1x
// -count 5 -timeout 30m. SPINDLE_FANOUT="MIDSxPER" changes the shape.
func BenchmarkVia1000(b *testing.B) {
	mids, per := 10, 100
	if v := os.Getenv("SPINDLE_FANOUT"); v != "" {
		m, p, _ := strings.Cut(v, "x")
		mids, _ = strconv.Atoi(m)
		per, _ = strconv.Atoi(p)
	}
	checkProcessLimits(b, mids, per)
	for i := 0; i < b.N; i++ {
		runFanOut(b, mids, per)
	}
}

func runFanOut(b *testing.B, mids, per int) {
	b.StopTimer()
	root := fanRoot(b)
	ctx := testCtx(b, 20*time.Minute)
	heap0, rss0, gor0 := liveHeap(), selfRSSKiB(), runtime.NumGoroutine()
	b.StartTimer()
	start := time.Now()
	tr := buildFanTree(ctx, b, root, fanOpts{mids: mids, per: per})
	pids := pidsOf(ctx, b, root, tr.ids())
	took := time.Since(start)
	b.StopTimer()
	n := float64(len(pids))
	time.Sleep(2 * time.Second) // idle: let every child settle
	heap1, rss1, gor1 := liveHeap(), selfRSSKiB(), runtime.NumGoroutine()
	var leafPSS, midPSS []float64
	for i, m := range tr.mids {
		midPSS = append(midPSS, pssKiB(pids[m.ID()]))
		for _, c := range tr.kids[i] {
			leafPSS = append(leafPSS, pssKiB(pids[c.ID()]))
		}
	}

	downs := watchDowns(b, root)
	victim := tr.mids[0]
	behind := []uint32{victim.ID()}
	gone := []int{pids[victim.ID()]}
	for _, c := range tr.kids[0] {
		behind = append(behind, c.ID())
		gone = append(gone, pids[c.ID()])
	}
	others := make([]uint32, 0, len(tr.mids)-1)
	for _, m := range tr.mids[1:] {
		others = append(others, m.ID())
	}
	down0 := downBytes(ctx, b, root, others)
	killed := time.Now()
	if err := victim.Kill(); err != nil {
		b.Fatal(err)
	}
	last := downs.waitAll(ctx, b, behind)
	waitGone(ctx, b, gone)
	time.Sleep(time.Second) // what the other intermediates pass down settles
	down1 := downBytes(ctx, b, root, others)
	window := time.Since(killed)

	b.ReportMetric(took.Seconds(), "start-s")
	b.ReportMetric(float64(int64(heap1)-int64(heap0))/n/1024, "root-heap-KiB/ctx")
	b.ReportMetric((rss1-rss0)/n, "root-RSS-KiB/ctx")
	b.ReportMetric(float64(gor1-gor0)/n, "root-goroutines/ctx")
	b.ReportMetric(mean(leafPSS), "child-PSS-KiB")
	b.ReportMetric(mean(midPSS), "mid-PSS-KiB")
	b.ReportMetric(float64(last.Sub(killed).Microseconds())/1000, "kill-ms")
	b.ReportMetric(float64(down1.Bytes-down0.Bytes)/1024, "death-down-KiB")
	b.Logf("the other %d intermediates sent %d frames, %d bytes down to their children in the %v after the kill (heartbeats included)",
		len(others), down1.Frames-down0.Frames, down1.Bytes-down0.Bytes, window.Round(time.Millisecond))
	slices.Sort(leafPSS)
	b.Logf("%d contexts: start+reach %v; root heap %+.1f MiB, RSS %+.1f MiB, %+d goroutines; leaf PSS median %.0f KiB (%.0f..%.0f); last IS_DEAD %v after the kill",
		len(pids), took.Round(time.Millisecond), float64(int64(heap1)-int64(heap0))/(1<<20), (rss1-rss0)/1024, gor1-gor0,
		leafPSS[len(leafPSS)/2], leafPSS[0], leafPSS[len(leafPSS)-1], last.Sub(killed).Round(time.Microsecond))

	shut := time.Now()
	sctx := testCtx(b, 5*time.Minute)
	if err := root.Shutdown(sctx); err != nil {
		b.Fatalf("shutdown: %v", err)
	}
	rest := make([]int, 0, len(pids))
	for _, p := range pids {
		rest = append(rest, p)
	}
	waitGone(sctx, b, rest)
	b.Logf("root shutdown and every process gone in %v", time.Since(shut).Round(time.Millisecond))
}

// downBytes sums what the contexts ids sent down to their children.
func downBytes(ctx context.Context, b *testing.B, root *actors.Node, ids []uint32) DownBytes {
	b.Helper()
	var d DownBytes
	for _, o := range calls.CallAll[PidReq, DownBytes](ctx, calls.Of(root), ids, "test.downbytes", &PidReq{}, calls.GatherOptions{}) {
		if o.Err != nil {
			b.Fatalf("test.downbytes in %d: %v", o.Context, o.Err)
		}
		d.Frames += o.Resp.Frames
		d.Bytes += o.Resp.Bytes
	}
	return d
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
