package supervision_test

// Acceptance probe of issue 11 ("The cause of a death is flattened to a
// string ... on ChildFailed.Reason"): a supervised child process that
// stops answering (SIGSTOP) is declared dead by the heartbeat, and the
// supervision event carries that cause under errors.Is, not as text only.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/supervision"
)

func TestProbe_ChildFailedKeepsHeartbeatCause(t *testing.T) {
	root := newRoot(t, actors.Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 500 * time.Millisecond})
	evs := events(t, root)
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "hb", Children: workers(1, supervision.Permanent)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	infos := waitUp(t, s, 20*time.Second)
	frozen := infos[0].Context
	if err := frozen.Signal(context.Background(), runner.Signal("STOP")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = frozen.Kill() })
	failed := next[*supervision.ChildFailed](t, evs, 20*time.Second)
	if !errors.Is(failed.Reason, actors.ErrHeartbeatTimeout) {
		t.Fatalf("ChildFailed.Reason %v (%T): want errors.Is ErrHeartbeatTimeout", failed.Reason, failed.Reason)
	}
	var he *actors.HeartbeatError
	if !errors.As(failed.Reason, &he) {
		t.Fatalf("ChildFailed.Reason %v (%T): want a *actors.HeartbeatError", failed.Reason, failed.Reason)
	}
	if _, ok := spawn.ExitStatus(failed.Reason); ok {
		t.Fatalf("a heartbeat death reads as an exit status: %v", failed.Reason)
	}
	if !failed.Restart {
		t.Fatalf("a Permanent child declared dead by its heartbeat is not restarted: %+v", failed)
	}
	next[*supervision.ChildRestarted](t, evs, 20*time.Second)
}
