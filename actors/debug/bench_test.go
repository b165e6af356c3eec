package debug_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/debug"
	"github.com/spindle-go/spindle/actors/introspect"
	"github.com/spindle-go/spindle/spawn"
)

// BenchmarkSample: one sample of the view (introspect.Tree over the
// links, the diff, the JSON of the snapshot, sent to one stream's
// queue): in-process trees (a root and fan-out children, each with
// fan-out grandchildren, over pipes) and a root with real child
// processes.
func BenchmarkSample(b *testing.B) {
	for _, fan := range []int{0, 2, 5} {
		b.Run(fmt.Sprintf("inproc-%d", 1+fan+fan*fan), func(b *testing.B) {
			var kids []actorstest.Shape
			for i := range fan {
				var gk []actorstest.Shape
				for j := range fan {
					gk = append(gk, actorstest.Shape{Name: fmt.Sprintf("c%d.%d", i, j)})
				}
				kids = append(kids, actorstest.Shape{Name: fmt.Sprintf("c%d", i), Children: gk})
			}
			tr := actorstest.New(b, actorstest.Shape{Setup: introspect.Setup, Children: kids})
			b.Run("view", func(b *testing.B) { benchSample(b, tr.Root()) })
			b.Run("tree-only", func(b *testing.B) { benchTree(b, tr.Root()) })
		})
	}
	b.Run("procs-5", func(b *testing.B) {
		root, err := actors.NewNode(actors.Config{Name: "root", Setup: introspect.Setup,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = root.Shutdown(ctx)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for i := range 4 {
			if _, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: fmt.Sprint("w", i)}}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("view", func(b *testing.B) { benchSample(b, root) })
		b.Run("tree-only", func(b *testing.B) { benchTree(b, root) })
	})
}

// benchTree: introspect.Tree alone, for the share of the view's own work.
func benchTree(b *testing.B, n *actors.Node) {
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		if _, err := introspect.Tree(ctx, n); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}

func benchSample(b *testing.B, n *actors.Node) {
	v := debug.Handler(n, debug.Options{})
	defer v.Close()
	ctx := context.Background()
	if err := v.SampleNow(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		if err := v.SampleNow(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// CPU of this process (every context of an in-process tree; the
	// root alone for child processes): ns/op is wall time, which the
	// machine's load stretches.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
