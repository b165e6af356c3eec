package supervision_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

// Bugs found in the review of issue 11, each with the test that failed
// before its fix.

// Stop must not wait out a start in flight: every start runs under a
// context that Stop cancels. Before, starts ran on context.Background()
// plus StartTimeout, so Stop waited up to StartTimeout (here 10 minutes).
func TestSupervisor_StopCancelsStartInFlight(t *testing.T) {
	root := newRoot(t, actors.Config{})
	entered := make(chan struct{})
	hang := func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
		close(entered)
		<-ctx.Done() // a start that honours ctx, as StartFunc must
		return nil, ctx.Err()
	}
	s, err := supervision.Start(t.Context(), root, supervision.Config{
		Children: []supervision.ContextSpec{{Name: "slow", Start: hang, StartTimeout: 10 * time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("start never began")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop waited for the start in flight: %v", err)
	}
	if s.Err() != nil {
		t.Fatalf("a stopped supervisor reports %v", s.Err())
	}
}

// Start must not write its defaults into the caller's Children slice.
func TestConfig_DefaultsLeaveCallersChildren(t *testing.T) {
	root := newRoot(t, actors.Config{})
	children := workers(1, supervision.Permanent)
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: children})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	if children[0].StartTimeout != 0 {
		t.Fatalf("the caller's ContextSpec was changed: StartTimeout %v", children[0].StartTimeout)
	}
}

// After a give-up no child is reported up, and the events carry the cause
// of the failure with its type.
func TestSupervisor_GiveUpMarksChildrenDownAndKeepsCause(t *testing.T) {
	root := newRoot(t, actors.Config{})
	evs := events(t, root)
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "fragile", Children: workers(2, supervision.Permanent),
		Policy: supervision.Policy{MaxRestarts: 1, Period: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	infos := waitUp(t, s, 20*time.Second)
	_ = infos[0].Context.Kill()
	failed := next[*supervision.ChildFailed](t, evs, 20*time.Second)
	var exit *spawn.ExitError
	if !errors.As(failed.Reason, &exit) {
		t.Fatalf("ChildFailed.Reason %v (%T) does not unwrap to the exit status", failed.Reason, failed.Reason)
	}
	next[*supervision.ChildRestarted](t, evs, 20*time.Second)
	again, _ := s.Child(infos[0].Name)
	_ = again.Context.Kill()
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("supervisor did not give up")
	}
	if !errors.As(s.Err(), &exit) {
		t.Fatalf("GaveUpError %v does not unwrap to the exit status", s.Err())
	}
	for _, ci := range s.Children() {
		if ci.Up || ci.Context != nil {
			t.Fatalf("child %s still reported up after the give-up: %+v", ci.Name, ci)
		}
	}
}

// Stop ends a supervisor whose starts keep failing, both when the start
// itself fails and when the context comes up but its actors cannot be
// started (the context is discarded, its death waited for at most
// StopTimeout).
func TestSupervisor_StopWhileStartsKeepFailing(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec supervision.ContextSpec
	}{
		{"start fails", supervision.ContextSpec{Name: "broken", Start: func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
			return nil, errors.New("no such host")
		}}},
		{"actors fail", supervision.ContextSpec{Name: "kindless", Start: local,
			Actors: []supervision.ActorSpec{{Kind: "no-such-kind", Name: "x"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot(t, actors.Config{})
			evs := events(t, root)
			s, err := supervision.Start(t.Context(), root, supervision.Config{Children: []supervision.ContextSpec{tc.spec},
				Policy: supervision.Policy{MaxRestarts: 1000, Period: time.Minute,
					Backoff: supervision.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}}})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				next[*supervision.ChildFailed](t, evs, 30*time.Second)
			}
			if err := s.Stop(testCtx(t, 30*time.Second)); err != nil {
				t.Fatalf("Stop of a supervisor whose starts keep failing: %v", err)
			}
			for _, ci := range s.Children() {
				if ci.Up {
					t.Fatalf("%s up after Stop", ci.Name)
				}
			}
		})
	}
}

// A supervisor of the same name can start right after Stop returns.
// Before, the actor was stopped after Done closed, so a new Start could
// fail with "name exists".
func TestSupervisor_RestartSameNameAfterStop(t *testing.T) {
	root := newRoot(t, actors.Config{})
	for i := 0; i < 5; i++ {
		s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "again", Children: workers(1, supervision.Permanent)})
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if err := s.WaitUp(testCtx(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.Stop(testCtx(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}
