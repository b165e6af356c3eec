package qemutest_test

import (
	"context"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/internal/qemutest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
)

// BenchmarkStart_FreshContainer starts a context in a fresh container and
// shuts it down, per iteration: on the emulated arm64 CPU (busybox:arm64
// image, the arm64 build) and natively (the amd64 busybox image, the same
// test package built the same way for linux/amd64), in the same run. Both
// binaries are built before the timer starts; every start uploads (a
// fresh container has an empty cache).
func BenchmarkStart_FreshContainer(b *testing.B) {
	a := qemutest.RequireArm64(b)
	e := containertest.Docker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, platform, image string
	}{
		{"arm64-emulated", "linux/arm64", e.BusyboxImageOf(b, qemutest.ImageRepo, a.Busybox)},
		{"amd64-native", "linux/amd64", e.BusyboxImage(b)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bin, err := builder().Binary(ctx, tc.platform)
			if err != nil {
				b.Fatal(err)
			}
			root := newRoot(b)
			var boot, upload, handshake time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := docker.Start(ctx, root, docker.Options{
					Common:        spawn.Common{Name: tc.name, Grace: 5 * time.Second},
					Bootstrap:     spawn.Bootstrap{Binaries: []*spawn.Binary{bin}, Timeout: bootTimeout},
					TargetOptions: docker.TargetOptions{CLI: e.Path, Image: tc.image, RunArgs: e.RunDefaults()},
				})
				if err != nil {
					b.Fatal(err)
				}
				info := p.Info().Boot
				boot, upload, handshake = boot+info.Bootstrap, upload+info.Upload, handshake+info.Handshake
				if err := p.Shutdown(ctx); err != nil {
					b.Fatal(err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(boot.Milliseconds())/n, "bootstrap-ms")
			b.ReportMetric(float64(upload.Milliseconds())/n, "upload-ms")
			b.ReportMetric(float64(handshake.Milliseconds())/n, "handshake-ms")
		})
	}
}

// BenchmarkRequest_Container is one request and its reply between this
// process and an echo actor in a container context: on the emulated arm64
// CPU and natively, in the same run.
func BenchmarkRequest_Container(b *testing.B) {
	a := qemutest.RequireArm64(b)
	e := containertest.Docker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, platform, image string
	}{
		{"arm64-emulated", "linux/arm64", e.BusyboxImageOf(b, qemutest.ImageRepo, a.Busybox)},
		{"amd64-native", "linux/amd64", e.BusyboxImage(b)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bin, err := builder().Binary(ctx, tc.platform)
			if err != nil {
				b.Fatal(err)
			}
			root := newRoot(b)
			p, err := docker.Start(ctx, root, docker.Options{
				Common:        spawn.Common{Name: tc.name, Grace: 5 * time.Second},
				Bootstrap:     spawn.Bootstrap{Binaries: []*spawn.Binary{bin}, Timeout: bootTimeout},
				TargetOptions: docker.TargetOptions{CLI: e.Path, Image: tc.image, RunArgs: e.RunDefaults()},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Shutdown(ctx)
			pid, err := p.Spawn(ctx, "echo", "echo")
			if err != nil {
				b.Fatal(err)
			}
			ping := &Ping{NoUname: true}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := actors.Request[*Pong](ctx, root, pid, ping); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
