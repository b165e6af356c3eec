package introspect_test

import (
	"context"
	"fmt"
	"time"

	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/introspect"
)

// Example gathers the tree of a root with two workers (in-process here;
// child processes, SSH hosts and containers answer the same way).
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := actorstest.Start(ctx, actorstest.Shape{Setup: introspect.Setup,
		Children: []actorstest.Shape{{Name: "web-1"}, {Name: "web-2"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close(ctx)
	tree, err := introspect.Tree(ctx, tr.Root())
	if err != nil {
		fmt.Println(err)
		return
	}
	tree.Walk(func(c *introspect.Context) {
		fmt.Printf("%d %s %s, %d links\n", c.ID, c.Name, c.State, len(c.Links))
	})
	// Output:
	// 0 root up, 2 links
	// 1 web-1 up, 1 links
	// 2 web-2 up, 1 links
}
