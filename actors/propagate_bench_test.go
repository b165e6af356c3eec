package actors_test

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
)

// BenchmarkPropagation: one-way sends and round trips to an actor in a
// child context over a pipe, without a Propagator, with one and a ctx
// that carries nothing, and with a ctx whose value it carries (a
// traceparent-sized header in every frame). Run with -count to
// interleave; docs/benchmarks.md, "Observability overhead".
func BenchmarkPropagation(b *testing.B) {
	var seen atomic.Int64
	done := make(chan struct{}, 1)
	var want atomic.Int64
	setup := func(n *actors.Node) error {
		n.RegisterKind("sink", actor.PropsFromFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case *Tick:
				if seen.Add(1) == want.Load() {
					done <- struct{}{}
				}
			case *Ping:
				c.Respond(&Pong{})
			}
		}))
		return nil
	}
	header := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, v := range []struct {
		name string
		prop actors.Propagator
		ctx  context.Context
	}{
		{"none", nil, context.Background()},
		{"propagator-empty-ctx", keyProp{}, context.Background()},
		{"propagator-carried", keyProp{}, context.WithValue(context.Background(), propKey{}, header)},
	} {
		cfg := actors.Config{Setup: setups(typeSetup, setup), Propagator: v.prop}
		root := newRoot(b, cfg)
		c := attach(b, root, "worker", cfg)
		pid := spawnRemote(b, root, c.link.ID, "sink", "")
		b.Run("oneway/"+v.name, func(b *testing.B) {
			seen.Store(0)
			want.Store(int64(b.N))
			tick := &Tick{}
			cpu0 := cpuTime()
			for b.Loop() {
				if err := root.SendContext(v.ctx, pid, tick); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
		b.Run("request/"+v.name, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := actors.Request[*Pong](v.ctx, root, pid, &Ping{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used, in ns:
// both ends of the link are in it, so per message it is the work a send
// costs whatever the machine's load.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
