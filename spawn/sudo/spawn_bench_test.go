package sudo_test

import (
	"context"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/internal/execrun"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// BenchmarkSpawnSudo is spawn to first reply (start, spawn "who", one
// request) with a warm cache, through sudo (root to spindle-b, no
// password; and spindle-a to root with its password), against its floors
// in the same run: `sudo -u spindle-b true` and a local child
// (spawn.Local) to its first reply. Goal: sudo <= 1.3 x (floor + local).
// Shutdown is outside the timer.
func BenchmarkSpawnSudo(b *testing.B) {
	u := sudotest.Setup(b)
	root := newRoot(b)
	ctx := context.Background()
	b.Run("floor-sudo-true", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command("sudo", "-n", "-u", u.B.Name, "true").CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("floor-su-true", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command("su", u.B.Name, "-c", "true").CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("floor-doas-true", func(b *testing.B) {
		for b.Loop() {
			c := exec.Command("doas", "-n", "true")
			c.SysProcAttr = sudoSysProc(u.B)
			if out, err := c.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("local", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c, err := spawn.Local(ctx, root, spawn.Options{})
			if err != nil {
				b.Fatal(err)
			}
			firstReply(b, root, c)
			b.StopTimer()
			if err := c.Shutdown(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	// boot-exec: the same bootstrap straight on this host (no sudo), to
	// tell the bootstrap's own cost from sudo's.
	plain := &execrun.Target{Desc: runner.Info{Method: "exec", Host: "localhost"}, Signals: true}
	nopass := mustSudo(b, &sudo.Host{}, sudo.Options{User: u.B.Name})
	password := mustSudo(b, host(u.A), sudo.Options{Auth: sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}})
	su := mustTTY(b)(sudo.Su(&sudo.Host{}, sudo.SuOptions{User: u.B.Name})) // root needs no password
	doas := mustTTY(b)(sudo.Doas(host(u.B), sudo.DoasOptions{}))            // permit nopass
	for _, c := range []struct {
		name string
		tgt  runner.Target
	}{{"boot-exec", plain}, {"sudo-nopass", nopass}, {"sudo-password", password}, {"su-nopass", su}, {"doas-nopass", doas}} {
		b.Run(c.name, func(b *testing.B) {
			dir := cacheDir(b)
			stop(b, start(b, root, c.tgt, dir)) // warm the cache
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := start(b, root, c.tgt, dir)
				firstReply(b, root, p)
				b.StopTimer()
				if err := p.Shutdown(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

type spawner interface {
	Spawn(ctx context.Context, kind, name string) (*actor.PID, error)
}

func firstReply(b *testing.B, root *actors.Node, c spawner) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pid, err := c.Spawn(ctx, "who", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := actors.Request[*Me](ctx, root, pid, &Who{}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRoundTripSudo is one request and its reply (64 B) to a child
// under sudo, against a local child in the same run. Goal: <= 1.5x.
func BenchmarkRoundTripSudo(b *testing.B) {
	u := sudotest.Setup(b)
	root := newRoot(b)
	ctx := context.Background()
	local, err := spawn.Local(ctx, root, spawn.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = local.Shutdown(ctx) })
	under := start(b, root, mustSudo(b, &sudo.Host{}, sudo.Options{User: u.B.Name}), cacheDir(b))
	b.Cleanup(func() { _ = under.Shutdown(ctx) })
	for _, c := range []struct {
		name string
		c    spawner
	}{{"local", local}, {"sudo", under}} {
		b.Run(c.name, func(b *testing.B) {
			pid, err := c.c.Spawn(ctx, "who", "")
			if err != nil {
				b.Fatal(err)
			}
			msg := &Who{Payload: make([]byte, 64)}
			for b.Loop() {
				if _, err := actors.Request[*Me](ctx, root, pid, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSpawnSudoRatio takes, in every iteration, one sample of each
// line of BenchmarkSpawnSudo that the goal compares (the sudo floor, a
// local child, the bootstrap on plain exec, a child under sudo and under
// su and doas), so that a loaded machine slows them alike, and reports
// their medians in ms and the goal's ratio sudo / (floor + local).
func BenchmarkSpawnSudoRatio(b *testing.B) {
	u := sudotest.Setup(b)
	root := newRoot(b)
	ctx := context.Background()
	plain := &execrun.Target{Desc: runner.Info{Method: "exec", Host: "localhost"}, Signals: true}
	booted := []struct {
		name string
		tgt  runner.Target
		dir  string
	}{
		{"boot-exec", plain, cacheDir(b)},
		{"sudo", mustSudo(b, &sudo.Host{}, sudo.Options{User: u.B.Name}), cacheDir(b)},
		{"su", mustTTY(b)(sudo.Su(&sudo.Host{}, sudo.SuOptions{User: u.B.Name})), cacheDir(b)},
		{"doas", mustTTY(b)(sudo.Doas(host(u.B), sudo.DoasOptions{})), cacheDir(b)},
	}
	for _, c := range booted {
		stop(b, start(b, root, c.tgt, c.dir)) // warm the caches
	}
	samples := map[string][]float64{}
	timed := func(name string, f func()) {
		t0 := time.Now()
		f()
		samples[name] = append(samples[name], float64(time.Since(t0).Microseconds())/1000)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		timed("floor", func() {
			if out, err := exec.Command("sudo", "-n", "-u", u.B.Name, "true").CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		})
		var local *spawn.Context
		timed("local", func() {
			var err error
			if local, err = spawn.Local(ctx, root, spawn.Options{}); err != nil {
				b.Fatal(err)
			}
			firstReply(b, root, local)
		})
		_ = local.Shutdown(ctx)
		for _, c := range booted {
			var p *spawn.Process
			timed(c.name, func() { p = start(b, root, c.tgt, c.dir); firstReply(b, root, p) })
			stop(b, p)
		}
	}
	b.StopTimer()
	for _, name := range []string{"floor", "local", "boot-exec", "sudo", "su", "doas"} {
		b.ReportMetric(median(samples[name]), name+"-ms")
	}
	b.ReportMetric(median(samples["sudo"])/(median(samples["floor"])+median(samples["local"])), "sudo/(floor+local)")
}

// BenchmarkRoundTripSudoRatio alternates one request to a local child and
// one to a child under sudo, and reports both medians and their ratio.
func BenchmarkRoundTripSudoRatio(b *testing.B) {
	u := sudotest.Setup(b)
	root := newRoot(b)
	ctx := context.Background()
	local, err := spawn.Local(ctx, root, spawn.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = local.Shutdown(ctx) })
	under := start(b, root, mustSudo(b, &sudo.Host{}, sudo.Options{User: u.B.Name}), cacheDir(b))
	b.Cleanup(func() { _ = under.Shutdown(ctx) })
	lp, err1 := local.Spawn(ctx, "who", "")
	sp, err2 := under.Spawn(ctx, "who", "")
	if err1 != nil || err2 != nil {
		b.Fatal(err1, err2)
	}
	msg := &Who{Payload: make([]byte, 64)}
	var ls, ss []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range []struct {
			pid *actor.PID
			out *[]float64
		}{{lp, &ls}, {sp, &ss}} {
			t0 := time.Now()
			if _, err := actors.Request[*Me](ctx, root, c.pid, msg); err != nil {
				b.Fatal(err)
			}
			*c.out = append(*c.out, float64(time.Since(t0).Nanoseconds())/1000)
		}
	}
	b.StopTimer()
	b.ReportMetric(median(ls), "local-us")
	b.ReportMetric(median(ss), "sudo-us")
	b.ReportMetric(median(ss)/median(ls), "sudo/local")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
