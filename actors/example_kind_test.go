package actors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// ExampleNode_HandleKind registers a frame kind of its own in every context
// (as a feature package such as calls or services would, from its own
// package) and sends a frame of that kind from the root to a child.
func ExampleNode_HandleKind() {
	const kindEcho wire.Kind = 4000
	got := make(chan string, 1)
	setup := func(n *actors.Node) error {
		return n.HandleKind(kindEcho, func(f wire.Frame) error {
			got <- fmt.Sprintf("ctx-%d got %q from ctx-%d", n.ID(), f.Body(), f.Header().Src())
			return nil
		})
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	root, err := actors.NewNode(actors.Config{Setup: setup, Logger: quiet})
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
	link, err := root.AttachChild(ctx, "worker", actors.Transport{R: parentEnd, W: parentEnd, C: parentEnd})
	if err != nil {
		panic(err)
	}
	child := <-joined
	defer child.Shutdown(ctx)

	if err := root.SendKind(kindEcho, link.ID, []byte("hello")); err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	// Output: ctx-1 got "hello" from ctx-0
}
