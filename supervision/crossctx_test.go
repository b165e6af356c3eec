package supervision_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/supervision"
)

// owner is an actor in the root that keeps one child actor of kind
// "counter" in the supervised context "host": its strategy restarts the
// child when it panics; when the host dies, it spawns the child again on
// the host's next incarnation.
type owner struct {
	node    *actors.Node
	sup     *supervision.Supervisor
	child   chan *actor.PID
	gone    chan *actor.Terminated
	pending bool
}

type hostUp struct{ id uint32 }

func (o *owner) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		ci, _ := o.sup.Child("host")
		o.child <- c.Spawn(o.node.ChildProps(ci.ID, "counter"))
	case *actor.Terminated:
		o.gone <- m
		if m.Why == actor.TerminatedReason_AddressTerminated {
			o.pending = true // respawn once the host is back
		}
	case hostUp:
		if o.pending {
			o.pending = false
			o.child <- c.Spawn(o.node.ChildProps(m.id, "counter"))
		}
	}
}

// Cross-context actor supervision between real processes: a panic in the
// host process reaches the owner's strategy with the panic value and stack
// and the restart is carried out there; when the host process is killed,
// the owner sees its child terminated with AddressTerminated and respawns
// it on the restarted host.
func TestCrossContext_PanicRestartAndRespawn(t *testing.T) {
	root := newRoot(t, actors.Config{})
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: []supervision.ContextSpec{{Name: "host", Start: local}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	host := waitUp(t, s, 20*time.Second)[0]

	reasons := make(chan any, 4)
	o := &owner{node: root, sup: s, child: make(chan *actor.PID, 2), gone: make(chan *actor.Terminated, 2)}
	strategy := actor.NewOneForOneStrategy(10, time.Minute, func(reason any) actor.Directive {
		reasons <- reason
		return actor.RestartDirective
	})
	ownerPID := root.System().Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return o }, actor.WithSupervisor(strategy)))
	sub := root.System().EventStream.Subscribe(func(ev any) {
		if r, ok := ev.(*supervision.ChildRestarted); ok {
			root.System().Root.Send(ownerPID, hostUp{r.ID})
		}
	})
	defer root.System().EventStream.Unsubscribe(sub)

	child := <-o.child
	if child.Address != actors.Address(host.ID) {
		t.Fatalf("child %v not in the host (ctx %d)", child, host.ID)
	}
	for i := 1; i <= 2; i++ {
		if r, err := ask(t, root, child, 1); err != nil || r.N != i {
			t.Fatalf("job %d: %+v, %v", i, r, err)
		}
	}
	_ = root.Send(child, &Job{N: -1})
	var reason any
	select {
	case reason = <-reasons:
	case <-time.After(10 * time.Second):
		t.Fatal("the panic did not reach the owner's strategy")
	}
	var pe *actors.PanicError
	if err, ok := reason.(error); !ok || !errors.As(err, &pe) || pe.Value != "counter: negative job" ||
		!strings.Contains(pe.Stack, "(*counter).Receive") || pe.Context != host.ID {
		t.Fatalf("reason %#v", reason)
	}
	if r, err := ask(t, root, child, 1); err != nil || r.N != 1 {
		t.Fatalf("after the restart directive: %+v, %v (want a fresh count)", r, err)
	}

	_ = host.Context.Kill()
	select {
	case m := <-o.gone:
		if m.Why != actor.TerminatedReason_AddressTerminated || m.Who.Id != child.Id {
			t.Fatalf("Terminated %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Terminated after the host died")
	}
	var again *actor.PID
	select {
	case again = <-o.child:
	case <-time.After(20 * time.Second):
		t.Fatal("not respawned on the restarted host")
	}
	now, _ := s.Child("host")
	if again.Address != actors.Address(now.ID) || now.ID == host.ID {
		t.Fatalf("respawned at %v, host is ctx %d (was %d)", again, now.ID, host.ID)
	}
	if r, err := ask(t, root, again, 1); err != nil || r.N != 1 {
		t.Fatalf("respawned child: %+v, %v", r, err)
	}
}
