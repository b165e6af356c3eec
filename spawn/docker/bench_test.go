package docker_test

import (
	"context"
	"io"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
)

// The benchmarks of issue 12 for containers, each with its floor measured
// in the same run (see docs/benchmarks.md):
//
//	BenchmarkFloorExecTrue/ENGINE   `docker exec -i C true` to its exit: the method's own cost
//	BenchmarkFloorFirstByte/ENGINE  `docker exec -i C echo x` to its first byte
//	BenchmarkSpawnWarm/local        spawn.Local of the same static binary to its first reply
//	BenchmarkSpawnWarm/ENGINE       docker.Start (exec, warm cache) to the first reply
//	BenchmarkSpawnFresh/ENGINE      docker.Start of a fresh container (run, upload) to the first reply
//	BenchmarkFloorRoundTrip/ENGINE  64 bytes through `docker exec -i C cat` and back
//	BenchmarkRoundTrip/local|ENGINE a small request and its reply
//
// Goals: spawn <= 1.3 x (floor + local spawn); round trip <= 1.5 x local.

func reportLatencies(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	p := func(q float64) float64 { return float64(samples[int(q*float64(len(samples)-1))]) / 1e6 }
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// benchContainer is a running busybox container of e for a benchmark.
func benchContainer(b *testing.B, e *containertest.Engine) *containertest.Container {
	return e.Run(b, e.BusyboxImage(b), containertest.RunOptions{})
}

func BenchmarkFloorExecTrue(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			e := eng.get(b)
			c := benchContainer(b, e)
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if out, err := exec.Command(e.Path, "exec", "-i", c.Name, "true").CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				samples = append(samples, time.Since(t0))
			}
			b.StopTimer()
			reportLatencies(b, samples)
		})
	}
}

// BenchmarkFloorFirstByte is the floor measured as the local floor is: to
// the first byte of `docker exec -i C echo x` (its exit, untimed, is not
// waited for by a context's start either; podman's exec sessions take
// long to end).
func BenchmarkFloorFirstByte(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			e := eng.get(b)
			c := benchContainer(b, e)
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				cmd := exec.Command(e.Path, "exec", "-i", c.Name, "echo", "x")
				out, _ := cmd.StdoutPipe()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				var one [1]byte
				if _, err := io.ReadFull(out, one[:]); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(t0))
				b.StopTimer()
				_, _ = io.Copy(io.Discard, out)
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			reportLatencies(b, samples)
		})
	}
}

// BenchmarkFloorRoundTrip is the stream's own cost: 64 bytes written to
// `docker exec -i C cat` and read back, no framework at all.
func BenchmarkFloorRoundTrip(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			e := eng.get(b)
			c := benchContainer(b, e)
			cmd := exec.Command(e.Path, "exec", "-i", c.Name, "cat")
			in, _ := cmd.StdinPipe()
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = in.Close(); _ = cmd.Wait() }()
			msg, back := make([]byte, 64), make([]byte, 64)
			ping := func() time.Duration {
				t0 := time.Now()
				if _, err := in.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(out, back); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			for i := 0; i < 500; i++ {
				ping()
			}
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				samples = append(samples, ping())
			}
			b.StopTimer()
			reportLatencies(b, samples)
		})
	}
}

// spawnOnce starts a context with start, spawns an echo actor, has its
// first reply, and shuts the context down (untimed).
func spawnOnce(b *testing.B, root *actors.Node, start func(context.Context) (spawn.Child, error)) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	c, err := start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err == nil {
		_, err = actors.Request[*Pong](ctx, root, pid, &Ping{})
	}
	dt := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if err := c.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	return dt
}

// starters are the ways of starting a context the benchmarks compare:
// local (the same static binary), and exec into a container of each engine.
func starters(b *testing.B) []struct {
	name  string
	start func(b *testing.B, root *actors.Node) func(context.Context) (spawn.Child, error)
} {
	type starter = struct {
		name  string
		start func(b *testing.B, root *actors.Node) func(context.Context) (spawn.Child, error)
	}
	out := []starter{{"local", func(b *testing.B, root *actors.Node) func(context.Context) (spawn.Child, error) {
		exe := containertest.StaticTestBinary(b)
		return func(ctx context.Context) (spawn.Child, error) {
			return spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "local", Grace: time.Second}, Executable: exe})
		}
	}}}
	for _, eng := range engines {
		out = append(out, starter{eng.name, func(b *testing.B, root *actors.Node) func(context.Context) (spawn.Child, error) {
			e := eng.get(b)
			o := opts(b, e, eng.name, docker.TargetOptions{Container: benchContainer(b, e).Name})
			return func(ctx context.Context) (spawn.Child, error) { return docker.Start(ctx, root, o) }
		}})
	}
	return out
}

func BenchmarkSpawnWarm(b *testing.B) {
	for _, st := range starters(b) {
		b.Run(st.name, func(b *testing.B) {
			root := newRoot(b, nil)
			start := st.start(b, root)
			spawnOnce(b, root, start) // fills the cache
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				samples = append(samples, spawnOnce(b, root, start))
			}
			b.StopTimer()
			reportLatencies(b, samples)
		})
	}
}

// BenchmarkSpawnFresh is a start in a fresh container (`docker run -i
// --rm`): the container's creation and a cold cache, so the binary is
// uploaded every time.
func BenchmarkSpawnFresh(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			e := eng.get(b)
			root := newRoot(b, nil)
			o := opts(b, e, eng.name, docker.TargetOptions{Image: e.BusyboxImage(b)})
			start := func(ctx context.Context) (spawn.Child, error) { return docker.Start(ctx, root, o) }
			spawnOnce(b, root, start) // the binary's compressed form is made once
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				samples = append(samples, spawnOnce(b, root, start))
			}
			b.StopTimer()
			reportLatencies(b, samples)
		})
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for _, st := range starters(b) {
		b.Run(st.name, func(b *testing.B) {
			root := newRoot(b, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			c, err := st.start(b, root)(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Shutdown(ctx)
			pid := echoIn(b, c)
			for i := 0; i < 500; i++ { // warm up
				if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
					b.Fatal(err)
				}
			}
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(t0))
			}
			b.StopTimer()
			reportLatencies(b, samples)
		})
	}
}
