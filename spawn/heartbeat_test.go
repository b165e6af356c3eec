package spawn_test

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
)

// A SIGSTOPped child is declared dead by the heartbeat within the timeout
// (bounded generously here), with a reason that names the heartbeat; what
// waited on it fails; and the stopped process is killed, not left behind.
func TestLocal_SIGSTOPDeclaredDeadByHeartbeat(t *testing.T) {
	for _, link := range links {
		t.Run(link.String(), func(t *testing.T) {
			logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
			root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: logger,
				HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 400 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = root.Shutdown(testCtx(t, 20*time.Second)) })
			c, pid := startChild(t, root, "frozen", link)
			ctx := testCtx(t, 30*time.Second)
			if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
				t.Fatal(err)
			}
			watched := make(chan *actor.Terminated, 1)
			root.System().Root.Spawn(actor.PropsFromFunc(func(ac actor.Context) {
				switch m := ac.Message().(type) {
				case *actor.Started:
					ac.Watch(pid)
				case *actor.Terminated:
					watched <- m
				}
			}))
			// Idle for several timeouts first: heartbeats keep it alive.
			time.Sleep(1200 * time.Millisecond)
			if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
				t.Fatalf("idle child declared dead: %v", err)
			}
			pending := make(chan error, 1)
			go func() {
				_, err := actors.Request[*Pong](ctx, root, pid, &Ping{Delay: time.Minute})
				pending <- err
			}()
			time.Sleep(20 * time.Millisecond)
			stopped := time.Now()
			if err := c.Signal(context.Background(), runner.Signal("STOP")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Dead():
			case <-time.After(10 * time.Second):
				t.Fatal("SIGSTOPped child not declared dead within 10s")
			}
			t.Logf("declared dead %v after SIGSTOP", time.Since(stopped))
			if !errors.Is(c.DeadReason(), actors.ErrHeartbeatTimeout) {
				t.Fatalf("reason %v, want a heartbeat timeout", c.DeadReason())
			}
			err = <-pending
			if !errors.Is(err, actors.ErrContextDead) || !strings.Contains(err.Error(), "heartbeat") {
				t.Fatalf("pending request: %v", err)
			}
			select {
			case m := <-watched:
				if m.Why != actor.TerminatedReason_AddressTerminated {
					t.Fatalf("Terminated %v", m)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no Terminated")
			}
			var ee *exec.ExitError
			if err := c.Wait(ctx); !errors.As(err, &ee) {
				t.Fatalf("Wait: %v, want the stopped process killed", err)
			}
			if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("stopped child ended with %v, want SIGKILL", ee)
			}
		})
	}
}

var _ spawn.Child = (*spawn.Context)(nil)
