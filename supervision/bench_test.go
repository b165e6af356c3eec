package supervision_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/supervision"
)

func reportLatencies(b *testing.B, samples []time.Duration) {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	p := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkKillToTerminated measures the time from SIGKILL of a child
// context to a watcher's Terminated (AddressTerminated) for an actor in it.
// Run with -benchtime=100x: each iteration starts a child, untimed.
func BenchmarkKillToTerminated(b *testing.B) {
	root := newRoot(b, actors.Config{})
	samples := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c, err := spawn.Local(testCtx(b, 10*time.Second), root, spawn.Options{Common: spawn.Common{Name: "victim"}})
		if err != nil {
			b.Fatal(err)
		}
		pid, err := c.Spawn(testCtx(b, 10*time.Second), "worker", "w")
		if err != nil {
			b.Fatal(err)
		}
		term := make(chan time.Time, 1)
		watcher := root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
			switch ac.Message().(type) {
			case *actor.Started:
				ac.Watch(pid)
			case *actor.Terminated:
				term <- time.Now()
			}
		}))
		// The watch has reached the child once a request behind it returns.
		if _, err := ask(b, root, pid, 1); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := c.Signal(context.Background(), runner.SIGKILL); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, (<-term).Sub(start))
		b.StopTimer()
		root.System().Root.Stop(watcher)
		_ = c.Shutdown(testCtx(b, 10*time.Second))
	}
	reportLatencies(b, samples)
}

// BenchmarkKillToRestartedAnswer measures the time from SIGKILL of a
// supervised worker to the first answer of its restarted incarnation
// (detection, restart decision, process start, handshake, actor spawn,
// one request), with and without the default backoff.
func BenchmarkKillToRestartedAnswer(b *testing.B) {
	for _, bc := range []struct {
		name    string
		min     time.Duration
		standby bool
	}{{"backoff=1us", time.Microsecond, false}, {"backoff=default", 0, false}, {"standby,backoff=1us", time.Microsecond, true}} {
		b.Run(bc.name, func(b *testing.B) {
			root := newRoot(b, actors.Config{})
			evs := events(b, root)
			spec := workers(1, supervision.Permanent)
			spec[0].Standby = bc.standby
			s, err := supervision.Start(b.Context(), root, supervision.Config{Children: spec,
				Policy: supervision.Policy{MaxRestarts: 1 << 20, Period: time.Second,
					Backoff: supervision.Backoff{Min: bc.min, Max: bc.min + time.Microsecond, Jitter: 1e-9}}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Stop(testCtx(b, 30*time.Second))
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ci := waitUp(b, s, 30*time.Second)[0]
				time.Sleep(50 * time.Millisecond) // let the previous start (and spare) settle
				b.StartTimer()
				start := time.Now()
				_ = ci.Context.Kill()
				next[*supervision.ChildRestarted](b, evs, 30*time.Second)
				now, _ := s.Child(ci.Name)
				if _, err := ask(b, root, now.PIDs["w"], i); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(start))
			}
			b.StopTimer()
			reportLatencies(b, samples)
		})
	}
}

// BenchmarkStartN measures the time from Start to WaitUp returning for N
// local worker contexts under OneForOne, started in parallel (the default)
// and one at a time (Policy.Sequential, the behaviour before issue 15).
// The "connect=50ms" cases wait 50 ms in each StartFunc before the local
// spawn, a stand-in for an SSH dial and authentication (30-75 ms on
// loopback here), which is what a fleet's starts wait on. Stopping the
// children is not timed.
func BenchmarkStartN(b *testing.B) {
	for _, bc := range []struct {
		n       int
		connect time.Duration
	}{{4, 0}, {8, 0}, {8, 50 * time.Millisecond}} {
		for _, seq := range []bool{true, false} {
			mode := "parallel"
			if seq {
				mode = "sequential"
			}
			name := fmt.Sprintf("n=%d/connect=%v/%s", bc.n, bc.connect, mode)
			b.Run(name, func(b *testing.B) {
				root := newRoot(b, actors.Config{})
				children := workers(bc.n, supervision.Permanent)
				for i := range children {
					children[i].Start = func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
						time.Sleep(bc.connect)
						return local(ctx, node, name)
					}
				}
				samples := make([]time.Duration, 0, b.N)
				for i := 0; i < b.N; i++ {
					start := time.Now()
					s, err := supervision.Start(b.Context(), root, supervision.Config{Children: children,
						Policy: supervision.Policy{Sequential: seq}})
					if err != nil {
						b.Fatal(err)
					}
					if err := s.WaitUp(testCtx(b, time.Minute)); err != nil {
						b.Fatal(err)
					}
					samples = append(samples, time.Since(start))
					b.StopTimer()
					if err := s.Stop(testCtx(b, time.Minute)); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				reportLatencies(b, samples)
			})
		}
	}
}
