package command_test

import (
	"context"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
)

// Children started through the bootstrap cross a trust boundary, so by
// default they are isolated (unidirectional mode): one may not reach its
// sibling, and the refusal is a typed error; Common.AllowSiblings opts out.
func TestStart_SiblingsIsolatedByDefault(t *testing.T) {
	for _, allow := range []bool{false, true} {
		root := newRoot(t)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := func(name string) spawn.Child {
			c, err := command.Start(ctx, root, command.Options{Argv: []string{"env"},
				Common: spawn.Common{Name: name, Grace: time.Second, AllowSiblings: allow}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
			return c
		}
		a, b := start("a"), start("b")
		relay, err := a.Spawn(ctx, "relay", "")
		if err != nil {
			t.Fatal(err)
		}
		target, err := b.Spawn(ctx, "where", "")
		if err != nil {
			t.Fatal(err)
		}
		// The root itself reaches both.
		if _, err := actors.Request[*Here](ctx, root, target, &WhereAreYou{}); err != nil {
			t.Fatalf("root to b: %v", err)
		}
		said, err := actors.Request[*SiblingSaid](ctx, root, relay, &AskSibling{Address: target.Address, ID: target.Id})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !allow && !said.Refused:
			t.Fatalf("an isolated child reached its sibling: %+v", said)
		case allow && said.Err != "":
			t.Fatalf("with AllowSiblings the sibling is not reached: %s", said.Err)
		}
	}
}
