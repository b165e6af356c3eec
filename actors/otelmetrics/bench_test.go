package otelmetrics_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/otelmetrics"
)

type (
	BTick struct{}
	BPing struct{}
	BPong struct{}
)

// BenchmarkOverhead: one-way sends and round trips to an actor in a child
// context (in-process, over a pipe) with the adapter off, and on: the
// root's instruments registered on a Prometheus MeterProvider scraped
// every 100 ms (ten times Prometheus's usual rate, to magnify it). Besides
// ns/op it reports cpu-ns/op, the CPU time of the process (both ends) per
// operation, which the machine's load disturbs less. Run with -count to
// interleave; docs/benchmarks.md, "Observability overhead (issue 16.7)".
func BenchmarkOverhead(b *testing.B) {
	var seen, want atomic.Int64
	done := make(chan struct{}, 1)
	setup := func(n *actors.Node) error {
		for _, err := range []error{actors.RegisterType[BTick](n, "bench.BTick"), actors.RegisterType[BPing](n, "bench.BPing"),
			actors.RegisterType[BPong](n, "bench.BPong")} {
			if err != nil {
				return err
			}
		}
		n.RegisterKind("sink", actor.PropsFromFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case *BTick:
				if seen.Add(1) == want.Load() {
					done <- struct{}{}
				}
			case *BPing:
				c.Respond(&BPong{})
			}
		}))
		return nil
	}
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		tr := actorstest.New(b, actorstest.Shape{Setup: setup, Children: []actorstest.Shape{{Name: "worker"}}})
		root := tr.Root()
		ctx := context.Background()
		pid, err := root.SpawnRemote(ctx, tr.Context("worker").ID(), "sink", "")
		if err != nil {
			b.Fatal(err)
		}
		stop := func() {}
		if on {
			stop = metricsOn(b, root)
		}
		b.Run("oneway/"+name, func(b *testing.B) {
			seen.Store(0)
			want.Store(int64(b.N))
			tick := &BTick{}
			cpu0 := cpuTime()
			for b.Loop() {
				if err := root.Send(pid, tick); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
		b.Run("request/"+name, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := actors.Request[*BPong](ctx, root, pid, &BPing{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
		stop()
	}
}

// metricsOn registers n's instruments on a Prometheus MeterProvider and
// scrapes it every 100 ms until the returned stop.
func metricsOn(b *testing.B, n *actors.Node) (stop func()) {
	prom, err := otelmetrics.NewPrometheus()
	if err != nil {
		b.Fatal(err)
	}
	reg, err := otelmetrics.Register(n, prom.MeterProvider)
	if err != nil {
		b.Fatal(err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				prom.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		_ = reg.Unregister()
		_ = prom.Shutdown(context.Background())
	}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkScrape: one Prometheus scrape of a root with 8 child links (a
// LinkStats snapshot, every observation, the text encoding): the whole
// cost of metrics on, per scrape, since nothing of the adapter runs per
// frame.
func BenchmarkScrape(b *testing.B) {
	kids := make([]actorstest.Shape, 8)
	for i := range kids {
		kids[i].Name = "w" + string(rune('0'+i))
	}
	tr := actorstest.New(b, actorstest.Shape{Children: kids})
	prom, err := otelmetrics.NewPrometheus()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = prom.Shutdown(context.Background()) }()
	reg, err := otelmetrics.Register(tr.Root(), prom.MeterProvider)
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Unregister()
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		prom.ServeHTTP(httptest.NewRecorder(), req)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
