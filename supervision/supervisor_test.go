package supervision_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/supervision"
	"go.uber.org/goleak"
)

func ask(t testing.TB, node *actors.Node, pid *actor.PID, n int) (*Result, error) {
	t.Helper()
	return actors.Request[*Result](testCtx(t, 10*time.Second), node, pid, &Job{N: n})
}

// A SIGKILLed worker is a child failure carrying its IS_DEAD reason; it is
// restarted with a new context ID and its actors are recreated; the old
// incarnation's PIDs are dead for good.
func TestSupervisor_RestartsKilledContext(t *testing.T) {
	root := newRoot(t, actors.Config{})
	evs := events(t, root)
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "pool", Children: workers(2, supervision.Permanent)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	before := waitUp(t, s, 20*time.Second)
	old := before[0]
	if r, err := ask(t, root, old.PIDs["w"], 1); err != nil || r.N != 2 {
		t.Fatalf("first answer %v, %v", r, err)
	}
	if err := old.Context.Kill(); err != nil {
		t.Fatal(err)
	}
	failed := next[*supervision.ChildFailed](t, evs, 10*time.Second)
	if failed.Child != old.Name || failed.ID != old.ID || !failed.Restart || !strings.Contains(failed.Reason.Error(), "SIGKILL") {
		t.Fatalf("ChildFailed %+v", failed)
	}
	restarted := next[*supervision.ChildRestarted](t, evs, 20*time.Second)
	if restarted.Child != old.Name || restarted.OldID != old.ID || restarted.ID == old.ID {
		t.Fatalf("ChildRestarted %+v", restarted)
	}
	now, _ := s.Child(old.Name)
	if !now.Up || now.ID != restarted.ID || now.Incarnation != 2 || now.Restarts != 1 {
		t.Fatalf("child after restart %+v", now)
	}
	r, err := ask(t, root, now.PIDs["w"], 21)
	if err != nil || r.N != 42 {
		t.Fatalf("restarted worker: %v, %v", r, err)
	}
	// The other worker was not touched (one_for_one).
	if other, _ := s.Child(before[1].Name); other.ID != before[1].ID {
		t.Fatalf("sibling restarted: %+v", other)
	}
	// Old PIDs: requests and sends fail with IS_DEAD, a watch answers
	// Terminated at once, and nothing reaches the new incarnation.
	if _, err := ask(t, root, old.PIDs["w"], 1); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("request to the old incarnation: %v", err)
	}
	if err := root.Send(old.PIDs["w"], &Job{}); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("send to the old incarnation: %v", err)
	}
	term := make(chan *actor.Terminated, 1)
	root.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Watch(old.PIDs["w"])
		case *actor.Terminated:
			term <- m
		}
	}))
	select {
	case m := <-term:
		if m.Why != actor.TerminatedReason_AddressTerminated {
			t.Fatalf("watch on an old PID: %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch on an old PID not answered")
	}
}

func TestSupervisor_OneForAllAndRestForOne(t *testing.T) {
	for _, tt := range []struct {
		strategy  supervision.Strategy
		restarted []bool // per child, after killing the second of three
	}{
		{supervision.OneForAll, []bool{true, true, true}},
		{supervision.RestForOne, []bool{false, true, true}},
	} {
		t.Run(tt.strategy.String(), func(t *testing.T) {
			root := newRoot(t, actors.Config{})
			s, err := supervision.Start(t.Context(), root, supervision.Config{Children: workers(3, supervision.Permanent),
				Policy: supervision.Policy{Strategy: tt.strategy}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop(testCtx(t, 30*time.Second))
			before := waitUp(t, s, 30*time.Second)
			_ = before[1].Context.Kill()
			deadline := time.Now().Add(30 * time.Second)
			for {
				after := s.Children()
				done := true
				for i, ci := range after {
					if !ci.Up || (ci.ID != before[i].ID) != tt.restarted[i] {
						done = false
					}
				}
				if done {
					for _, ci := range after {
						if _, err := ask(t, root, ci.PIDs["w"], 1); err != nil {
							t.Fatalf("%s: %v", ci.Name, err)
						}
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("children after the kill: %+v", after)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// More failures than the intensity allows: the supervisor stops every
// child, reports a *GaveUpError and ends.
func TestSupervisor_GivesUp(t *testing.T) {
	root := newRoot(t, actors.Config{})
	evs := events(t, root)
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "fragile", Children: workers(2, supervision.Permanent),
		Policy: supervision.Policy{MaxRestarts: 1, Period: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	infos := waitUp(t, s, 20*time.Second)
	_ = infos[0].Context.Kill()
	next[*supervision.ChildRestarted](t, evs, 20*time.Second)
	again, _ := s.Child(infos[0].Name)
	_ = again.Context.Kill()
	gave := next[*supervision.SupervisorGaveUp](t, evs, 20*time.Second)
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("supervisor did not end after giving up")
	}
	var ge *supervision.GaveUpError
	if !errors.As(s.Err(), &ge) || !errors.Is(s.Err(), supervision.ErrGaveUp) || ge != gave.Err || ge.Restarts != 2 {
		t.Fatalf("Err %v, event %+v", s.Err(), gave.Err)
	}
	// The surviving sibling was stopped.
	select {
	case <-infos[1].Context.Dead():
	default:
		t.Fatal("sibling still running after give-up")
	}
}

// A child that fails to start (a binary that is not a context) counts as a
// failure and is retried; when it keeps failing, the supervisor gives up.
func TestSupervisor_StartFailure(t *testing.T) {
	root := newRoot(t, actors.Config{})
	bad := func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
		return spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: name}, Executable: "/bin/false"})
	}
	s, err := supervision.Start(t.Context(), root, supervision.Config{
		Children: []supervision.ContextSpec{{Name: "broken", Start: bad}},
		Policy:   supervision.Policy{MaxRestarts: 2, Period: time.Minute, Backoff: supervision.Backoff{Min: time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("supervisor of a child that cannot start did not give up")
	}
	if !errors.Is(s.Err(), supervision.ErrGaveUp) || !strings.Contains(s.Err().Error(), "start failed") {
		t.Fatalf("Err %v", s.Err())
	}
}

// A SIGSTOPped worker is declared dead by the heartbeat and restarted.
func TestSupervisor_RestartsStoppedContext(t *testing.T) {
	root := newRoot(t, actors.Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 300 * time.Millisecond})
	evs := events(t, root)
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: workers(1, supervision.Permanent)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	old := waitUp(t, s, 20*time.Second)[0]
	lc := old.Context.(*spawn.Context)
	if err := lc.Signal(context.Background(), runner.Signal("STOP")); err != nil {
		t.Fatal(err)
	}
	failed := next[*supervision.ChildFailed](t, evs, 10*time.Second)
	if !strings.Contains(failed.Reason.Error(), "heartbeat") {
		t.Fatalf("failure reason %v does not name the heartbeat", failed.Reason)
	}
	next[*supervision.ChildRestarted](t, evs, 20*time.Second)
	now, _ := s.Child(old.Name)
	if _, err := ask(t, root, now.PIDs["w"], 1); err != nil {
		t.Fatal(err)
	}
	if err := lc.Wait(testCtx(t, 10*time.Second)); err == nil {
		t.Fatal("the stopped process was not killed")
	}
}

// Stop stops every child and ends the supervisor; nothing is left behind.
func TestSupervisor_StopLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, leakOptions()...)
	fds := openFDs(t)
	func() {
		root := newRoot(t, actors.Config{})
		s, err := supervision.Start(t.Context(), root, supervision.Config{Children: workers(2, supervision.Transient)})
		if err != nil {
			t.Fatal(err)
		}
		infos := waitUp(t, s, 20*time.Second)
		if err := s.Stop(testCtx(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if s.Err() != nil {
			t.Fatalf("Err after Stop: %v", s.Err())
		}
		for _, ci := range infos {
			if err := ci.Context.(*spawn.Context).Wait(testCtx(t, 10*time.Second)); err != nil {
				t.Fatalf("%s did not exit cleanly: %v", ci.Name, err)
			}
		}
		_ = root.Shutdown(testCtx(t, 10*time.Second))
	}()
	if after := openFDs(t); after > fds {
		t.Fatalf("%d descriptors open before, %d after", fds, after)
	}
}

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// With Standby, a spare context is started and idle; a restart promotes it
// (the restarted child has the spare's context ID) and a new spare follows.
func TestSupervisor_StandbyTakesOver(t *testing.T) {
	root := newRoot(t, actors.Config{})
	evs := events(t, root)
	spec := workers(1, supervision.Permanent)
	spec[0].Standby = true
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: spec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	child := waitUp(t, s, 20*time.Second)[0]
	spare := waitSpare(t, root, child.ID)
	_ = child.Context.Kill()
	restarted := next[*supervision.ChildRestarted](t, evs, 20*time.Second)
	if restarted.ID != spare {
		t.Fatalf("restarted as ctx %d, the spare was ctx %d", restarted.ID, spare)
	}
	now, _ := s.Child(child.Name)
	if _, err := ask(t, root, now.PIDs["w"], 1); err != nil {
		t.Fatal(err)
	}
	next := waitSpare(t, root, now.ID)
	if next == spare || next == child.ID {
		t.Fatalf("no new spare: %d", next)
	}
	if err := s.Stop(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "spare shut down with the supervisor", func() bool {
		_, ok := root.Routes()[next]
		return !ok
	})
}

// waitSpare returns the ID of the one context other than active.
func waitSpare(t *testing.T, root *actors.Node, active uint32) uint32 {
	t.Helper()
	var spare uint32
	waitFor(t, 20*time.Second, "a standby context", func() bool {
		for id := range root.Routes() {
			if id != active {
				spare = id
				return true
			}
		}
		return false
	})
	return spare
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
