package supervision_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/supervision"
)

// ActorSpec.Init reaches every incarnation before it counts as started:
// a counter that got its Init Job answers the next Job with 2, also after
// a restart.
func TestSupervisor_InitEachIncarnation(t *testing.T) {
	root := newRoot(t, actors.Config{})
	spec := supervision.ContextSpec{Name: "c", Restart: supervision.Permanent, Start: local,
		Actors: []supervision.ActorSpec{{Kind: "counter", Name: "k", Init: func() any { return &Job{N: 1} }}}}
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: []supervision.ContextSpec{spec},
		Policy: supervision.Policy{Backoff: supervision.Backoff{Min: time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	first := waitUp(t, s, 20*time.Second)[0]
	if r, err := ask(t, root, first.PIDs["k"], 5); err != nil || r.N != 2 {
		t.Fatalf("first incarnation: %+v, %v; want the second job", r, err)
	}
	if err := first.Context.Kill(); err != nil {
		t.Fatal(err)
	}
	var now supervision.ChildInfo
	deadline := time.Now().Add(20 * time.Second)
	for {
		now, _ = s.Child("c")
		if now.Up && now.Incarnation == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: %+v", now)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r, err := ask(t, root, now.PIDs["k"], 5); err != nil || r.N != 2 || r.Pid == 0 {
		t.Fatalf("second incarnation: %+v, %v; want the second job", r, err)
	}
}

// A failing Init fails the start, like a failing spawn.
func TestSupervisor_InitFailureFailsStart(t *testing.T) {
	type notRegistered struct{}
	root := newRoot(t, actors.Config{})
	spec := supervision.ContextSpec{Name: "c", Start: local,
		Actors: []supervision.ActorSpec{{Kind: "counter", Name: "k", Init: func() any { return &notRegistered{} }}}}
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: []supervision.ContextSpec{spec},
		Policy: supervision.Policy{MaxRestarts: 1, Period: time.Minute, Backoff: supervision.Backoff{Min: time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("supervisor did not give up")
	}
	if !errors.Is(s.Err(), supervision.ErrGaveUp) || !strings.Contains(s.Err().Error(), "init of c/counter") {
		t.Fatalf("Err = %v, want a give-up naming the init", s.Err())
	}
}
