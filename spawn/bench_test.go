package spawn_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/msgptest"
	"github.com/spindle-go/spindle/spawn"
)

// reportLatencies reports p50 and p99 of samples in microseconds.
func reportLatencies(b *testing.B, samples []time.Duration, unit string, scale time.Duration) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	p := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))]) / float64(scale)
	}
	b.ReportMetric(p(0.50), "p50-"+unit)
	b.ReportMetric(p(0.99), "p99-"+unit)
}

// BenchmarkRoundTrip measures a request/response with a small message to an
// actor in a local child context.
func BenchmarkRoundTrip(b *testing.B) {
	for _, link := range links {
		b.Run(link.String(), func(b *testing.B) {
			root := newRoot(b, nil)
			_, pid := startChild(b, root, "bench", link)
			ctx := testCtx(b, 5*time.Minute)
			for i := 0; i < 1000; i++ { // warm up
				if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
					b.Fatal(err)
				}
			}
			samples := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(start))
			}
			b.StopTimer()
			reportLatencies(b, samples, "us", time.Microsecond)
		})
	}
}

// BenchmarkOneWay measures one-way throughput of a small struct message to
// an actor in a local child, up to the point where the child has processed
// all of them.
func BenchmarkOneWay(b *testing.B) { benchOneWay(b, &Count{N: 1}) }

// BenchmarkOneWayGenerated is BenchmarkOneWay with a message type that has
// msgp-generated codecs (internal/msgptest), sent without reflection.
func BenchmarkOneWayGenerated(b *testing.B) { benchOneWay(b, &msgptest.Count{N: 1}) }

func benchOneWay(b *testing.B, msg any) {
	for _, link := range links {
		b.Run(link.String(), func(b *testing.B) {
			root := newRoot(b, nil)
			c, _ := startChild(b, root, "bench", link)
			ctx := testCtx(b, 5*time.Minute)
			pid, err := c.Spawn(ctx, "counter", "counter")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := root.Send(pid, msg); err != nil {
					b.Fatal(err)
				}
			}
			got, err := actors.Request[*Counted](ctx, root, pid, &GetCount{})
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if got.N != b.N {
				b.Fatalf("counted %d of %d", got.N, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkPayload1MiB measures a round trip that carries 1 MiB each way.
func BenchmarkPayload1MiB(b *testing.B) {
	for _, link := range links {
		b.Run(link.String(), func(b *testing.B) {
			root := newRoot(b, nil)
			_, pid := startChild(b, root, "bench", link)
			ctx := testCtx(b, 5*time.Minute)
			payload := make([]byte, 1<<20)
			b.SetBytes(2 << 20) // 1 MiB there, 1 MiB back
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{Payload: payload})
				if err != nil {
					b.Fatal(err)
				}
				if len(pong.Payload) != len(payload) {
					b.Fatal("short payload")
				}
			}
		})
	}
}

// BenchmarkSpawnToFirstReply measures starting a local child context,
// spawning an actor in it and getting its first answer.
func BenchmarkSpawnToFirstReply(b *testing.B) {
	root := newRoot(b, nil)
	ctx := testCtx(b, 10*time.Minute)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: fmt.Sprintf("s%d", i)}})
		if err != nil {
			b.Fatal(err)
		}
		pid, err := c.Spawn(ctx, "echo", "echo")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		if err := c.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportLatencies(b, samples, "ms", time.Millisecond)
}
