package ssh_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/supervision"
)

// heartbeatRoot starts a root node with short heartbeats (the children
// adopt them from the handshake).
func heartbeatRoot(t testing.TB, interval, timeout time.Duration) *actors.Node {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: logger,
		HeartbeatInterval: interval, HeartbeatTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = root.Shutdown(ctx)
	})
	return root
}

// TestSSH_NetworkCut runs sshd in a network namespace reached over a veth
// pair, keeps requests flowing, and takes the link down: no FIN, no RST,
// only silence. The heartbeat declares the context dead within its
// timeout, every request in flight fails with IS_DEAD, and the remote
// context, cut off from its parent, ends by its own heartbeat.
func TestSSH_NetworkCut(t *testing.T) {
	ns := sshtest.NewNetNS(t)
	srv, _ := sshServer(t, sshtest.Config{ListenIP: ns.NSIP, Port: 2222, NetNS: ns.Name})
	const interval, timeout = time.Second, 3 * time.Second
	root := heartbeatRoot(t, interval, timeout)
	c := startSSH(t, root, sshOpts(srv, "far"))
	pid := echoIn(t, c)
	watched := watch(t, root, pid)
	ctx := testCtx(t, 60*time.Second)

	// Traffic in both directions, with payloads big enough to fill the
	// socket buffers when the cable goes.
	var answered atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, 256<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{Payload: payload}); err != nil {
					errs <- err
					return
				}
				answered.Add(1)
			}
		}()
	}
	waitFor(t, 10*time.Second, "traffic", func() bool { return answered.Load() > 20 })
	cut := time.Now()
	ns.Down(t)
	select {
	case <-c.Dead():
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("no IS_DEAD %v after the cut (heartbeat timeout %v)", timeout+5*time.Second, timeout)
	}
	detected := time.Since(cut)
	close(stop)
	wg.Wait()
	t.Logf("IS_DEAD %v after the cut (interval %v, timeout %v); %d requests answered before", detected, interval, timeout, answered.Load())
	if detected > timeout+2*time.Second {
		t.Errorf("IS_DEAD took %v, want about the heartbeat timeout %v", detected, timeout)
	}
	if !errors.Is(c.DeadReason(), actors.ErrHeartbeatTimeout) {
		t.Fatalf("reason %v, want a heartbeat timeout", c.DeadReason())
	}
	close(errs)
	inFlight := 0
	for err := range errs {
		inFlight++
		if !errors.Is(err, actors.ErrContextDead) || !strings.Contains(err.Error(), "heartbeat") {
			t.Fatalf("request in flight: %v, want IS_DEAD naming the heartbeat", err)
		}
	}
	if inFlight == 0 {
		t.Fatal("no request was in flight when the link went down")
	}
	expectDead(t, pendingRequest(ctx, root, pid), watched, pid, "heartbeat")
	// The far side is alone now; its own heartbeat ends it.
	waitFor(t, timeout+10*time.Second, "the remote context to exit", func() bool { return !alive(c.Info().Pid) })
}

// TestSSH_SIGSTOPDeclaredDead: a remote process that stops answering
// (SIGSTOP) over a healthy connection is declared dead by the heartbeat
// and killed on the host, like a local child.
func TestSSH_SIGSTOPDeclaredDead(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := heartbeatRoot(t, 100*time.Millisecond, time.Second)
	c := startSSH(t, root, sshOpts(srv, "frozen"))
	pid := echoIn(t, c)
	ctx := testCtx(t, 30*time.Second)
	// Idle for several timeouts: heartbeats keep it alive over SSH too.
	time.Sleep(3 * time.Second)
	if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
		t.Fatalf("idle SSH context declared dead: %v", err)
	}
	failed := pendingRequest(ctx, root, pid)
	stopped := time.Now()
	if err := syscall.Kill(c.Info().Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Dead():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGSTOPped remote context not declared dead within 10s")
	}
	t.Logf("declared dead %v after SIGSTOP", time.Since(stopped))
	if !errors.Is(c.DeadReason(), actors.ErrHeartbeatTimeout) {
		t.Fatalf("reason %v, want a heartbeat timeout", c.DeadReason())
	}
	expectDead(t, failed, nil, pid, "heartbeat")
	waitFor(t, 5*time.Second, "the stopped remote process to be killed", func() bool { return !alive(c.Info().Pid) })
}

// TestSSH_SupervisedRestart puts an SSH context under a supervisor (its
// StartFunc wraps spawn.SSH): killed on the host, it is restarted with a
// new context ID and its actor recreated; the old PID stays dead.
func TestSSH_SupervisedRestart(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	start := func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
		return ssh.Start(ctx, node, sshOpts(srv, name))
	}
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "ssh-pool", Children: []supervision.ContextSpec{
		{Name: "remote-worker", Restart: supervision.Permanent, Start: start,
			Actors: []supervision.ActorSpec{{Kind: "echo", Name: "echo"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(testCtx(t, 30*time.Second)) })
	ctx := testCtx(t, 60*time.Second)
	var first supervision.ChildInfo
	waitFor(t, 30*time.Second, "the SSH worker up", func() bool {
		first, _ = s.Child("remote-worker")
		return first.Up && first.PIDs["echo"] != nil
	})
	if _, err := actors.Request[*Pong](ctx, root, first.PIDs["echo"], &Ping{}); err != nil {
		t.Fatal(err)
	}
	remote := first.Context.(*ssh.Context)
	if err := syscall.Kill(remote.Info().Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var next supervision.ChildInfo
	waitFor(t, 30*time.Second, "the SSH worker restarted", func() bool {
		next, _ = s.Child("remote-worker")
		return next.Up && next.ID != first.ID && next.PIDs["echo"] != nil
	})
	if next.Incarnation != 2 || next.Context.(*ssh.Context).Info().Pid == remote.Info().Pid {
		t.Fatalf("restarted child %+v", next)
	}
	if _, err := actors.Request[*Pong](ctx, root, next.PIDs["echo"], &Ping{}); err != nil {
		t.Fatalf("restarted worker: %v", err)
	}
	if _, err := actors.Request[*Pong](ctx, root, first.PIDs["echo"], &Ping{}); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("request to the old incarnation: %v, want ErrContextDead", err)
	}
}
