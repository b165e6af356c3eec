package calls_test

import (
	"context"
	"errors"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/calls"
)

// TestCall_ToContextWithoutEndpointFailsAtOnce: a context that has no
// calls endpoint refuses CALL_FUNCTION as an unknown kind. Its dead reply
// quotes the frame's head, from which the caller's endpoint names the
// call, so the call fails at once with the refusal instead of waiting for
// its deadline.
func TestCall_ToContextWithoutEndpointFailsAtOnce(t *testing.T) {
	tree := actorstest.New(t, actorstest.Shape{Name: "root", Setup: setup,
		Children: []actorstest.Shape{{Name: "bare", Setup: func(*actors.Node) error { return nil }}}})
	root := tree.Root()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err := calls.Call[Echo, Echoed](ctx, calls.Of(root), tree.Node("bare").ID(), "echo", &Echo{})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("call to a context without endpoint: %v (ctx %v), want a refusal before the deadline", err, ctx.Err())
	}
	var de *actors.DeadError
	if !errors.As(err, &de) || !errors.Is(err, actors.ErrRejected) {
		t.Fatalf("error %v (%T), want a *actors.DeadError matching ErrRejected", err, err)
	}
	if st := calls.Of(root).Stats(); st.Pending != 0 {
		t.Fatalf("%d calls still pending after the refusal", st.Pending)
	}
}
