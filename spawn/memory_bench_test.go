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
func pssKiB(pid int) float64 { return rollupKiB(pid, "Pss")["Pss"] }

// ussKiB returns the unique set size of process pid in KiB: its private
// pages (clean and dirty), which no other process shares.
func ussKiB(pid int) float64 {
	m := rollupKiB(pid, "Private_Clean", "Private_Dirty")
	return m["Private_Clean"] + m["Private_Dirty"]
}

// rollupKiB reads the named fields of /proc/<pid>/smaps_rollup, in KiB.
func rollupKiB(pid int, fields ...string) map[string]float64 {
	out := map[string]float64{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, name := range fields {
			if rest, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				out[name] = kb
			}
		}
	}
	return out
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
// child and the children's mean PSS: child-PSS-KiB with each child measured
// just after its start (so the first ones share the binary's pages with
// fewer processes), child-PSS-alive-KiB with all b.N alive, and
// child-USS-KiB, the private pages alone (what one more child costs). The
// ns/op figure is meaningless.
func BenchmarkIdleContextMemory(b *testing.B) {
	root := newRoot(b, nil)
	ctx := testCtx(b, 10*time.Minute)
	before := liveHeap()
	var pss float64
	var pids []int
	for i := 0; i < b.N; i++ {
		c, pid := startChild(b, root, fmt.Sprintf("idle%d", i), links[0])
		if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let the child settle
		pss += pssKiB(c.Pid())
		pids = append(pids, c.Pid())
	}
	after := liveHeap()
	var alive, uss float64
	for _, p := range pids {
		alive += pssKiB(p)
		uss += ussKiB(p)
	}
	b.ReportMetric(float64(int64(after)-int64(before))/float64(b.N)/1024, "root-heap-KiB/ctx")
	b.ReportMetric(pss/float64(b.N), "child-PSS-KiB")
	b.ReportMetric(alive/float64(b.N), "child-PSS-alive-KiB")
	b.ReportMetric(uss/float64(b.N), "child-USS-KiB")
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
