package actors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
)

// TestLink_ParentDownFailsChildRequests: when a child loses its parent
// link, its requests to actors beyond that link fail at once and its
// watchers of them get AddressTerminated (not at their own timeouts).
func TestLink_ParentDownFailsChildRequests(t *testing.T) {
	root, c, _ := pair(t)
	hole := root.System().Root.Spawn(actor.PropsFromFunc(func(actor.Context) {})) // never answers
	holePID := actor.NewPID(root.Address(), hole.Id)
	events := make(chan watchEvent, 8)
	spawnWatcher(t, c.node, holePID, events)

	pending := requestAsync(c.node, holePID, &Ping{Text: "lost"}, time.Minute)
	time.Sleep(20 * time.Millisecond) // let the request leave
	c.link.Close()                    // the parent side goes away

	select {
	case o := <-pending:
		if !errors.Is(o.err, actors.ErrContextDead) {
			t.Fatalf("request error %v, want ErrContextDead", o.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("child's request to its parent still pending 5s after the parent link broke")
	}
	term := nextTerminated(t, events, 5*time.Second)
	if term.Why != actor.TerminatedReason_AddressTerminated {
		t.Fatalf("Terminated %v, want AddressTerminated", term)
	}
}
