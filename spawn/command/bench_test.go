package command_test

import (
	"context"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
)

// The benchmarks of issue 12 for the command method: spawn to first reply
// through `nsenter -t PID -m -u -p --` with a warm cache, against the
// method's floor (the same prefix running `true`) and a local spawn
// (spawn.Local to first reply), all three in the same run. Figures in
// docs/benchmarks.md.

func reportLatencies(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	p := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// firstReply spawns an actor in c and times nothing: the caller does.
func firstReply(b *testing.B, ctx context.Context, root *actors.Node, c spawn.Child) {
	pid, err := c.Spawn(ctx, "where", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := actors.Request[*Here](ctx, root, pid, &WhereAreYou{}); err != nil {
		b.Fatal(err)
	}
}

func nsenterArgv(inner int) []string {
	return []string{"nsenter", "-t", strconv.Itoa(inner), "-m", "-u", "-p", "--"}
}

func BenchmarkCommandSpawnWarm(b *testing.B) {
	inner := namespaced(b)
	root := newRoot(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opts := command.Options{Argv: nsenterArgv(inner), Common: spawn.Common{Grace: time.Second},
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{b.TempDir()}, Timeout: 3 * time.Minute}}
	one := func() time.Duration {
		begin := time.Now()
		c, err := command.Start(ctx, root, opts)
		if err != nil {
			b.Fatal(err)
		}
		firstReply(b, ctx, root, c)
		d := time.Since(begin)
		b.StopTimer()
		if err := c.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		return d
	}
	one() // the first start uploads the binary
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		samples = append(samples, one())
	}
	b.StopTimer()
	reportLatencies(b, samples)
}

// BenchmarkCommandFloor is the method's own floor: the same prefix
// running true, to its exit.
func BenchmarkCommandFloor(b *testing.B) {
	inner := namespaced(b)
	argv := append(nsenterArgv(inner), "true")
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		begin := time.Now()
		if err := exec.Command(argv[0], argv[1:]...).Run(); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(begin))
	}
	b.StopTimer()
	reportLatencies(b, samples)
}

// BenchmarkLocalSpawn is a local spawn to first reply, the other half of
// the goal (method floor + local spawn), in the same run.
func BenchmarkLocalSpawn(b *testing.B) {
	root := newRoot(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		begin := time.Now()
		c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Grace: time.Second}})
		if err != nil {
			b.Fatal(err)
		}
		firstReply(b, ctx, root, c)
		samples = append(samples, time.Since(begin))
		b.StopTimer()
		if err := c.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportLatencies(b, samples)
}
