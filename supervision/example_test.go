package supervision_test

import (
	"context"
	"fmt"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

// A worker context under a one-for-one supervisor: killed, it comes back
// as a new context, and its worker answers again.
func Example() {
	node, _ := actors.NewNode(actors.Config{Setup: setup})
	defer node.Shutdown(context.Background())

	start := func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
		return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name}})
	}
	sup, _ := supervision.Start(node, supervision.Config{
		Name:     "pool",
		Children: []supervision.ContextSpec{{Name: "worker-1", Start: start, Actors: []supervision.ActorSpec{{Kind: "worker", Name: "w"}}}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := upAgain(sup, 0)
	res, _ := actors.Request[*Result](ctx, node, first.PIDs["w"], &Job{N: 2})
	fmt.Println("answer:", res.N)

	_ = first.Context.Kill()
	second := upAgain(sup, first.ID)
	res, _ = actors.Request[*Result](ctx, node, second.PIDs["w"], &Job{N: 3})
	fmt.Println("after the restart:", res.N, "incarnation", second.Incarnation, "new ID:", second.ID != first.ID)

	_, err := actors.Request[*Result](ctx, node, first.PIDs["w"], &Job{N: 4})
	fmt.Println("old PID:", err != nil)
	_ = sup.Stop(ctx)
	// Output:
	// answer: 4
	// after the restart: 6 incarnation 2 new ID: true
	// old PID: true
}

// upAgain waits for worker-1 to be up with an ID other than old.
func upAgain(sup *supervision.Supervisor, old uint32) supervision.ChildInfo {
	for {
		if ci, _ := sup.Child("worker-1"); ci.Up && ci.ID != old {
			return ci
		}
		time.Sleep(5 * time.Millisecond)
	}
}
