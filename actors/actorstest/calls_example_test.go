package actorstest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/calls"
)

type (
	SumReq struct{ A, B int }
	Sum    struct{ N int }
)

// callsSetup makes every context's calls endpoint and registers a
// function there.
func callsSetup(n *actors.Node) error {
	ep, err := calls.New(n, calls.Config{})
	if err != nil {
		return err
	}
	return calls.Handle(ep, "sum", func(ctx context.Context, r *SumReq) (*Sum, error) {
		return &Sum{N: r.A + r.B}, nil
	})
}

// A handler of package calls, tested without processes: call it in a
// grandchild, then cut its parent's link and see the call fail at once.
func Example_handler() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tree, err := actorstest.Start(ctx, actorstest.Shape{Setup: callsSetup, Children: []actorstest.Shape{
		{Name: "mid", Children: []actorstest.Shape{{Name: "leaf"}}},
	}})
	if err != nil {
		panic(err)
	}
	defer tree.Close(ctx)

	ep, leaf := calls.Of(tree.Root()), tree.Context("leaf")
	sum, err := calls.Call[SumReq, Sum](ctx, ep, leaf.ID(), "sum", &SumReq{A: 2, B: 3})
	fmt.Println("sum:", sum.N, err)

	tree.Context("mid").Cut()
	<-tree.Context("mid").Link().Done()
	_, err = calls.Call[SumReq, Sum](ctx, ep, leaf.ID(), "sum", &SumReq{A: 2, B: 3})
	fmt.Println("behind the cut:", errors.Is(err, actors.ErrContextDead))
	// Output:
	// sum: 5 <nil>
	// behind the cut: true
}
