package actorstest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
)

// A root with a worker, in one process: spawn a registered kind in the
// worker, ask it, then cut the worker's link as if its process died.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tree, err := actorstest.Start(ctx, actorstest.Shape{
		Setup:    setup, // message types and the "echo" kind, in every context
		Children: []actorstest.Shape{{Name: "worker"}},
	})
	if err != nil {
		panic(err)
	}
	defer tree.Close(ctx)

	worker := tree.Context("worker")
	pid, _ := tree.Root().SpawnRemote(ctx, worker.ID(), "echo", "echo")
	pong, err := actors.Request[*Pong](ctx, tree.Root(), pid, &Ping{Text: "hi"})
	fmt.Println(pong.Text, "from", pong.From, err)

	worker.Cut()
	<-worker.Link().Done()
	_, err = actors.Request[*Pong](ctx, tree.Root(), pid, &Ping{Text: "again"})
	fmt.Println("after the cut:", err != nil)
	// Output:
	// hi from worker <nil>
	// after the cut: true
}

// In a test, New builds the tree, fails the test if it cannot, logs the
// nodes' warnings to the test and closes the tree in t.Cleanup.
func ExampleNew() {
	_ = func(t *testing.T) { // func TestEcho(t *testing.T)
		tree := actorstest.New(t, actorstest.Shape{
			Setup: setup,
			Children: []actorstest.Shape{
				{Name: "a", Children: []actorstest.Shape{{Name: "a1", Pipe: actorstest.OSPipe}}},
				{Name: "b"},
			},
		})
		ctx := t.Context()
		pid, err := tree.Root().SpawnRemote(ctx, tree.Context("a1").ID(), "echo", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := actors.Request[*Pong](ctx, tree.Node("b"), pid, &Ping{Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
}
