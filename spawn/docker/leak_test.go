package docker_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn/docker"
	"go.uber.org/goleak"
)

// TestStart_NoGoroutineLeak: contexts in a running and in a fresh
// container, a failed start, then the root's shutdown leave no goroutine
// behind (the CLI runners' reapers, stderr forwarders and link goroutines
// all end).
func TestStart_NoGoroutineLeak(t *testing.T) {
	e := containertest.Docker(t)
	img := e.BusyboxImage(t)
	c := e.Run(t, img, containertest.RunOptions{})
	staticBinary(t) // built before the baseline
	opts0 := goleak.IgnoreCurrent()
	func() {
		root, err := actors.NewNode(actors.Config{Setup: setup, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxFor(t, 90*time.Second)
		for _, to := range []docker.TargetOptions{{Container: c.Name}, {Image: img}} {
			p, err := docker.Start(ctx, root, opts(t, e, "leak", to))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := actors.Request[*Pong](ctx, root, echoIn(t, p), &Ping{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := docker.Start(ctx, root, opts(t, e, "bad", docker.TargetOptions{Container: containertest.RandomName("spindle-missing-")})); err == nil {
			t.Fatal("start in a missing container succeeded")
		}
		if err := root.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	goleak.VerifyNone(t, opts0)
}
