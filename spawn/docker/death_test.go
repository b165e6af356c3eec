package docker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
)

// stopFile makes pid 1 of a test container exit once /tmp/stop exists: a
// container whose main process ends.
var stopFile = []string{"sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.05; done"}

type killFunc func(t *testing.T, e *containertest.Engine, name string, root *actors.Node, pid *actor.PID)

// dockerStop stops the container with a grace period long enough for
// SIGTERM to act.
func dockerStop(t *testing.T, e *containertest.Engine, name string, _ *actors.Node, _ *actor.PID) {
	e.Command(t, "stop", "-t", "10", name)
}

func cliKill(t *testing.T, e *containertest.Engine, name string, _ *actors.Node, _ *actor.PID) {
	e.Command(t, "kill", name)
}

// TestStart_DeathIsDead ends a context's container in every way a user
// meets (docker kill, docker stop, podman kill, the main process exiting,
// the context exiting in a fresh container): a request under way fails at
// once with ErrContextDead and the reason, the watch fires, Dead closes,
// Wait reports the status, and no container or CLI process is left.
func TestStart_DeathIsDead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		engine func(testing.TB) *containertest.Engine
		fresh  bool
		kill   killFunc
		status int    // exit status
		reason string // what the reason names
	}{
		{"docker-kill", containertest.Docker, false, cliKill, 137, "signal KILL"},
		{"docker-stop", containertest.Docker, false, func(t *testing.T, e *containertest.Engine, name string, _ *actors.Node, _ *actor.PID) {
			e.Command(t, "stop", "-t", "1", name) // pid 1 ignores SIGTERM: SIGKILL after 1s
		}, 137, "signal KILL"},
		{"podman-kill", containertest.Podman, false, cliKill, 137, "signal KILL"},
		{"main-process-exits", containertest.Docker, false, func(t *testing.T, e *containertest.Engine, name string, _ *actors.Node, _ *actor.PID) {
			e.Command(t, "exec", name, "touch", "/tmp/stop")
		}, 137, "signal KILL"},
		{"docker-kill-fresh", containertest.Docker, true, cliKill, 137, "signal KILL"},
		{"podman-kill-fresh", containertest.Podman, true, cliKill, 137, "signal KILL"},
		{"docker-stop-fresh-pid1", containertest.Docker, true, dockerStop, 2, "exit status 2"},
		{"docker-stop-fresh-init", containertest.Docker, true, dockerStop, 143, "signal TERM"},
		{"context-exits-fresh", containertest.Docker, true, func(t *testing.T, _ *containertest.Engine, _ string, root *actors.Node, pid *actor.PID) {
			_ = root.Send(pid, &Exit{Code: 3})
		}, 3, "exit status 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.engine(t)
			img := e.BusyboxImage(t)
			root := newRoot(t, nil)
			var c *containertest.Container
			to := docker.TargetOptions{Image: img, Init: strings.HasSuffix(tc.name, "-init")}
			if !tc.fresh {
				c = e.Run(t, img, containertest.RunOptions{Cmd: stopFile})
				to = docker.TargetOptions{Container: c.Name}
			}
			p := start(t, root, opts(t, e, tc.name, to))
			pid := echoIn(t, p)
			name := p.Info().Host
			watched := watch(t, root, pid)
			ctx := ctxFor(t, 60*time.Second)
			if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
				t.Fatal(err)
			}
			failed := make(chan error, 1)
			go func() {
				_, err := actors.Request[*Pong](ctx, root, pid, &Ping{Delay: time.Minute})
				failed <- err
			}()
			time.Sleep(50 * time.Millisecond) // let the request leave
			tc.kill(t, e, name, root, pid)
			select {
			case err := <-failed:
				var de *actors.DeadError
				if !errors.Is(err, actors.ErrContextDead) || !errors.As(err, &de) {
					t.Fatalf("request error %v, want ErrContextDead", err)
				}
				if !strings.Contains(de.Reason, tc.reason) {
					t.Errorf("reason %q does not name %q", de.Reason, tc.reason)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("pending request still waiting 15s after the kill")
			}
			select {
			case m := <-watched:
				if m.Why != actor.TerminatedReason_AddressTerminated {
					t.Errorf("Terminated %v, want AddressTerminated", m)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no Terminated after the kill")
			}
			select {
			case <-p.Dead():
			case <-time.After(5 * time.Second):
				t.Fatal("Dead not closed")
			}
			if code, ok := spawn.ExitStatus(p.Wait(ctx)); !ok || code != tc.status {
				t.Errorf("Wait: status %d (%v), want %d; reason %v", code, ok, tc.status, p.DeadReason())
			}
			if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); !errors.Is(err, actors.ErrContextDead) {
				t.Errorf("request after death: %v", err)
			}
			if err := p.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("Shutdown after death: %v", err)
			}
			if c != nil {
				waitFor(t, 10*time.Second, "the container to stop", func() bool { return c.State() != "running" })
			}
			nothingLeft(t, e, c, to, name)
		})
	}
}
