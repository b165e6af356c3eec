package actors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
)

// Greeting and Greeted are the messages of the example.
type (
	Greeting struct{ Name string }
	Greeted  struct{ Text string }
)

// ExampleRequest joins two nodes over an in-memory pipe, spawns a
// registered actor kind in the child and asks it a question. Real programs
// get the child's Transport from package spawn (a process's pipes, an SSH
// session) instead of net.Pipe.
func ExampleRequest() {
	// The same setup runs in every context: both sides must know the
	// message types, and the child must know the actor kinds it may spawn.
	setup := func(n *actors.Node) error {
		if err := actors.RegisterType[Greeting](n, "example.Greeting"); err != nil {
			return err
		}
		if err := actors.RegisterType[Greeted](n, "example.Greeted"); err != nil {
			return err
		}
		n.RegisterKind("greeter", actor.PropsFromFunc(func(c actor.Context) {
			if g, ok := c.Message().(*Greeting); ok {
				c.Respond(&Greeted{Text: "hello, " + g.Name + ", from " + c.Self().Address})
			}
		}))
		return nil
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer root.Shutdown(ctx)

	parentEnd, childEnd := net.Pipe()
	joined := make(chan *actors.Node, 1)
	go func() {
		child, err := actors.Join(ctx, actors.Config{Setup: setup, Logger: quiet},
			actors.Transport{R: childEnd, W: childEnd, C: childEnd})
		if err != nil {
			panic(err)
		}
		joined <- child
	}()
	link, err := root.AttachChild(ctx, "worker-1", actors.Transport{R: parentEnd, W: parentEnd, C: parentEnd})
	if err != nil {
		panic(err)
	}
	child := <-joined
	defer child.Shutdown(ctx)

	pid, err := root.SpawnRemote(ctx, link.ID, "greeter", "greeter")
	if err != nil {
		panic(err)
	}
	reply, err := actors.Request[*Greeted](ctx, root, pid, &Greeting{Name: "spindle"})
	if err != nil {
		panic(err)
	}
	fmt.Println(child.Name(), actors.FormatPID(pid))
	fmt.Println(reply.Text)
	// Output:
	// worker-1 ctx-1/greeter
	// hello, spindle, from ctx-1
}

// ExampleNode_LinkStats reads the counters of a node's links: here the
// root's link to one child, after a round trip.
func ExampleNode_LinkStats() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := actorstest.Start(ctx, actorstest.Shape{Children: []actorstest.Shape{{Name: "worker"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close(ctx)
	// One round trip: a spawn of a kind the worker does not know.
	if _, err := tr.Root().SpawnRemote(ctx, tr.Context("worker").ID(), "no-such-kind", ""); err == nil {
		fmt.Println("spawned?")
	}
	for _, s := range tr.Root().LinkStats() {
		fmt.Printf("%s (context %d): parent %v, frames in>0 %v, out>0 %v\n", s.Name, s.Peer, s.IsParent,
			s.FramesIn > 0, s.FramesOut > 0)
	}
	// Output:
	// worker (context 1): parent false, frames in>0 true, out>0 true
}
