package docker_test

import (
	"context"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
	"github.com/spindle-go/spindle/supervision"
)

// TestStart_SupervisedRestart: a supervisor restarts a context whose fresh
// container was killed with `docker kill`, as a new container with a new
// context ID whose echo actor answers; the old container is gone.
func TestStart_SupervisedRestart(t *testing.T) {
	e := containertest.Docker(t)
	img := e.BusyboxImage(t)
	root := newRoot(t, nil)
	sup, err := supervision.Start(t.Context(), root, supervision.Config{
		Name:   "containers",
		Policy: supervision.Policy{Strategy: supervision.OneForOne, MaxRestarts: 3, Period: time.Minute},
		Children: []supervision.ContextSpec{{
			Name: "boxed",
			Start: func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
				return docker.Start(ctx, n, opts(t, e, name, docker.TargetOptions{Image: img}))
			},
			Actors:       []supervision.ActorSpec{{Kind: "echo", Name: "echo"}},
			StartTimeout: 60 * time.Second,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sup.Stop(context.Background()) })
	ctx := ctxFor(t, 120*time.Second)
	var first supervision.ChildInfo
	waitFor(t, 60*time.Second, "the first incarnation", func() bool {
		first, _ = sup.Child("boxed")
		return first.Up
	})
	pong, err := actors.Request[*Pong](ctx, root, first.PIDs["echo"], &Ping{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	box := first.Context.(*spawn.Process).Info().Host
	e.Command(t, "kill", box)
	var second supervision.ChildInfo
	waitFor(t, 60*time.Second, "the restart", func() bool {
		second, _ = sup.Child("boxed")
		return second.Up && second.ID != first.ID
	})
	again, err := actors.Request[*Pong](ctx, root, second.PIDs["echo"], &Ping{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	if again.Hostname == pong.Hostname {
		t.Errorf("restarted in the same container %s", pong.Hostname)
	}
	if newBox := second.Context.(*spawn.Process).Info().Host; newBox == box || e.Container(box).State() != "" {
		t.Errorf("old container %s state %q, new %s", box, e.Container(box).State(), newBox)
	}
}
