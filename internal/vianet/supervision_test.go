package vianet_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/netnstest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/supervision"
)

// events keeps a supervisor's failures and restarts in order.
type events struct {
	mu  sync.Mutex
	evs []string
}

func (l *events) add(ev supervision.Event) {
	var s string
	switch ev := ev.(type) {
	case *supervision.ChildFailed:
		s = "failed " + ev.Child
	case *supervision.ChildRestarted:
		s = "restarted " + ev.Child
	default:
		return
	}
	l.mu.Lock()
	l.evs = append(l.evs, s)
	l.mu.Unlock()
}

func (l *events) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.evs, ", ")
}

// reset forgets the events so far (those of the first starts: a cold
// start that timed out under load is retried, and is no concern here).
func (l *events) reset() {
	l.mu.Lock()
	l.evs = nil
	l.mu.Unlock()
}

// superviseChain starts a supervisor at the root holding the bastion
// (ssh) and the inner context (ssh through it: ContextSpec.Via) with an
// echo actor; the bastion retries for ever (a cut host is tried again
// until it is back).
func superviseChain(t *testing.T, n *netnstest.Net, root *actors.Node, log *events) *supervision.Supervisor {
	t.Helper()
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "hops", OnEvent: log.add,
		Children: []supervision.ContextSpec{
			{Name: "bastion", StartTimeout: 2 * time.Minute, Intensity: supervision.Intensity{Forever: true},
				Backoff: supervision.Backoff{Max: time.Second},
				Start: func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
					return ssh.Start(ctx, node, sshOpts(n.Bastion.SSH, name))
				}},
			{Name: "inner", Via: "bastion", StartTimeout: 2 * time.Minute, Actors: []supervision.ActorSpec{{Kind: "echo", Name: "echo"}},
				Start: func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
					o := sshOpts(n.Inner.SSH, name)
					o.Via = supervision.Intermediate(ctx)
					if o.Via == nil {
						return nil, fmt.Errorf("no intermediate for %s", name)
					}
					return ssh.Start(ctx, node, o)
				}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(testCtx(t, 30*time.Second)) })
	if err := s.WaitUp(testCtx(t, 5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	log.reset()
	return s
}

// restartedBoth waits until both children have new incarnations and checks
// the chain: inner started by the new bastion, its echo answering from
// the inner host, the old processes gone.
func restartedBoth(t *testing.T, n *netnstest.Net, root *actors.Node, s *supervision.Supervisor, old map[string]supervision.ChildInfo, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		b, _ := s.Child("bastion")
		i, _ := s.Child("inner")
		if b.Up && i.Up && b.Incarnation > old["bastion"].Incarnation && i.Incarnation > old["inner"].Incarnation {
			if v := i.Context.Info().Via; v != b.ID {
				t.Fatalf("inner restarted through ctx-%d, want the new bastion ctx-%d", v, b.ID)
			}
			pong, err := actors.Request[*Pong](testCtx(t, 10*time.Second), root, i.PIDs["echo"], &Ping{N: 7})
			if err != nil || pong.N != 7 || netNS(pong.Pid) != netNS(n.Inner.SSH.Pid()) {
				t.Fatalf("restarted inner: %+v, %v", pong, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted within %v: bastion %+v, inner %+v", d, b, i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, ci := range old {
		for alive(ci.Context.Info().Pid) {
			if time.Now().After(deadline) {
				t.Fatalf("the old %s process %d is still running", name, ci.Context.Info().Pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func snapshot(s *supervision.Supervisor) map[string]supervision.ChildInfo {
	b, _ := s.Child("bastion")
	i, _ := s.Child("inner")
	return map[string]supervision.ChildInfo{"bastion": b, "inner": i}
}

// wantOrder checks the events: the bastion's failures (one, or more while
// it cannot be reached), its restart, then inner's, and no failure of
// inner (it ended with its intermediate: not a failure of its own).
func wantOrder(t *testing.T, log *events) {
	t.Helper()
	got := log.String()
	if strings.Contains(got, "failed inner") || !strings.HasPrefix(got, "failed bastion") ||
		!strings.HasSuffix(got, "restarted bastion, restarted inner") {
		t.Fatalf("events %q, want the bastion's failure, its restart, then inner's", got)
	}
}

// TestNetns_SupervisorKillBastion: the supervised bastion is killed; the
// supervisor restarts it first, then the inner context through the new
// incarnation.
func TestNetns_SupervisorKillBastion(t *testing.T) {
	n := netnstest.New(t, netnstest.Config{})
	root := newRoot(t, 250*time.Millisecond, 2*time.Second)
	var log events
	s := superviseChain(t, n, root, &log)
	old := snapshot(s)
	if err := old["bastion"].Context.Kill(); err != nil {
		t.Fatal(err)
	}
	restartedBoth(t, n, root, s, old, time.Minute)
	wantOrder(t, &log)
	t.Logf("events: %s", log.String())
}

// TestNetns_SupervisorCutBastion: the cable to the supervised bastion is
// pulled; at the heartbeat timeout both contexts are dead, the bastion's
// restarts fail while the cable is out, and once it is back the
// supervisor restarts the bastion, then the inner context through it.
func TestNetns_SupervisorCutBastion(t *testing.T) {
	n := netnstest.New(t, netnstest.Config{})
	root := newRoot(t, 250*time.Millisecond, 2*time.Second)
	var log events
	s := superviseChain(t, n, root, &log)
	old := snapshot(s)
	n.Bastion.Cut(t)
	select {
	case <-old["inner"].Context.Dead():
	case <-time.After(15 * time.Second):
		t.Fatal("inner not declared dead 15s after the cut")
	}
	// Let a restart of the bastion fail on the cut link before restoring.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(log.String(), "failed bastion") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed restart of the bastion while cut: %s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.Bastion.Restore(t)
	restartedBoth(t, n, root, s, old, time.Minute)
	wantOrder(t, &log)
	t.Logf("events: %s", log.String())
}
