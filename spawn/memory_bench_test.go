package spawn_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
)

// pssKiB returns the proportional set size of process pid in KiB, from
// /proc/<pid>/smaps_rollup (0 where the kernel has none).
func pssKiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb
		}
	}
	return 0
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkIdleContextMemory starts b.N idle local children (each with an
// echo actor that has answered once) and reports the root's live heap per
// child and the children's mean PSS. The ns/op figure is meaningless.
func BenchmarkIdleContextMemory(b *testing.B) {
	root := newRoot(b, nil)
	ctx := testCtx(b, 10*time.Minute)
	before := liveHeap()
	var pss float64
	for i := 0; i < b.N; i++ {
		c, pid := startChild(b, root, fmt.Sprintf("idle%d", i), links[0])
		if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let the child settle
		pss += pssKiB(c.Pid())
	}
	after := liveHeap()
	b.ReportMetric(float64(int64(after)-int64(before))/float64(b.N)/1024, "root-heap-KiB/ctx")
	b.ReportMetric(pss/float64(b.N), "child-PSS-KiB")
}

// BenchmarkBurstMemory sends b.N one-way messages to an actor in a local
// child and reports the root's live heap after the burst has been
// processed, against the heap before it.
func BenchmarkBurstMemory(b *testing.B) {
	root := newRoot(b, nil)
	c, _ := startChild(b, root, "burst", links[0])
	ctx := testCtx(b, 10*time.Minute)
	pid, err := c.Spawn(ctx, "counter", "counter")
	if err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	msg := &Count{N: 1}
	for i := 0; i < b.N; i++ {
		if err := root.Send(pid, msg); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := actors.Request[*Counted](ctx, root, pid, &GetCount{}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	after := liveHeap()
	b.ReportMetric(float64(before)/(1<<20), "heap-before-MiB")
	b.ReportMetric(float64(after)/(1<<20), "heap-after-MiB")
}
