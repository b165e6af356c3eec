package supervision_test

import (
	"context"
	"errors"
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
	sup, _ := supervision.Start(context.Background(), node, supervision.Config{
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

// A fleet of three hosts, one of which is down: the others come up at
// once, the down one is retried for ever, and WaitUp says who is not up
// and why.
func ExampleSupervisor_WaitUp() {
	node, _ := actors.NewNode(actors.Config{Setup: setup})
	defer node.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	up := func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
		return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name}})
	}
	down := func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
		return nil, errors.New("no route to host")
	}
	events := make(chan supervision.Event, 256)
	sup, _ := supervision.Start(ctx, node, supervision.Config{
		Name: "fleet",
		Children: []supervision.ContextSpec{
			{Name: "web-1", Start: up},
			{Name: "web-2", Start: up},
			{Name: "web-3", Start: down, Intensity: supervision.Intensity{Forever: true}},
		},
		OnEvent: func(ev supervision.Event) { // runs on the supervisor: never block
			select {
			case events <- ev:
			default:
			}
		},
	})
	defer sup.Stop(ctx)
	for started, failed := 0, false; started < 2 || !failed; {
		switch ev := (<-events).(type) {
		case *supervision.ChildStarted:
			fmt.Println("up:", ev.Child == "web-1" || ev.Child == "web-2")
			started++
		case *supervision.ChildFailed:
			failed = true // web-3, retried after its backoff
		}
	}
	short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	var we *supervision.WaitError
	if err := sup.WaitUp(short); errors.As(err, &we) {
		for _, ci := range we.Down {
			fmt.Printf("%s is down: %v\n", ci.Name, ci.LastErr)
		}
	}
	// Output:
	// up: true
	// up: true
	// web-3 is down: start failed: no route to host
}

// WaitTried goes on as soon as every child is up or has failed once: a
// run-once job works with the hosts that are up and reports the others,
// while the supervisor keeps retrying them.
func ExampleSupervisor_WaitTried() {
	node, _ := actors.NewNode(actors.Config{Setup: setup})
	defer node.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	up := func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
		return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name}})
	}
	down := func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
		return nil, errors.New("connection refused")
	}
	sup, _ := supervision.Start(ctx, node, supervision.Config{Children: []supervision.ContextSpec{
		{Name: "web-1", Start: up},
		{Name: "web-2", Start: down, Intensity: supervision.Intensity{Forever: true}},
	}})
	defer sup.Stop(ctx)

	err := sup.WaitTried(ctx)
	fmt.Println("some down:", errors.Is(err, supervision.ErrDown))
	for _, ci := range sup.Children() {
		fmt.Printf("%s up=%v last error: %v\n", ci.Name, ci.Up, ci.LastErr)
	}
	// Output:
	// some down: true
	// web-1 up=true last error: <nil>
	// web-2 up=false last error: start failed: connection refused
}

// A context started through another one (ContextSpec.Via): when the
// intermediate is killed, taking the context behind it along, the
// supervisor restarts the intermediate first, then the context behind it,
// through the new incarnation.
func ExampleIntermediate() {
	node, _ := actors.NewNode(actors.Config{Setup: setup})
	defer node.Shutdown(context.Background())
	events := make(chan string, 16)
	sup, _ := supervision.Start(context.Background(), node, supervision.Config{
		Name: "hops",
		OnEvent: func(ev supervision.Event) {
			switch ev := ev.(type) {
			case *supervision.ChildFailed:
				events <- "failed " + ev.Child
			case *supervision.ChildRestarted:
				events <- "restarted " + ev.Child
			}
		},
		Children: []supervision.ContextSpec{
			{Name: "bastion", Start: func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
				return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name}})
			}},
			{Name: "inner", Via: "bastion", Start: func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
				// in a real deployment: ssh.Start(ctx, n, ssh.Options{Host: "inner", Common: ...})
				return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name, Via: supervision.Intermediate(ctx)}})
			}},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = sup.WaitUp(ctx)
	b, _ := sup.Child("bastion")
	i, _ := sup.Child("inner")
	fmt.Println("inner started by the bastion:", i.Context.Info().Via == b.ID)

	_ = b.Context.Kill()
	for _, want := range []string{"failed bastion", "restarted bastion", "restarted inner"} {
		fmt.Println(<-events == want, want)
	}
	_ = sup.WaitUp(ctx)
	b, _ = sup.Child("bastion")
	i, _ = sup.Child("inner")
	fmt.Println("through the new bastion:", i.Context.Info().Via == b.ID)
	_ = sup.Stop(ctx)
	// Output:
	// inner started by the bastion: true
	// true failed bastion
	// true restarted bastion
	// true restarted inner
	// through the new bastion: true
}
