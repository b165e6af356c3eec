package spawn

import (
	"context"
	"fmt"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Step is one unstarted hop of a chain (Chain): it starts a context
// through via, or from node itself when via is nil, with its method's
// options. Each method package has a constructor (ssh.Step,
// command.Step, docker.Step, kube.Step; LocalStep and TargetStep here).
type Step func(ctx context.Context, node *actors.Node, via Hop) (Child, error)

// ChainError is the error of a Chain whose step Step (from 0) failed;
// the contexts started before it were shut down.
type ChainError struct {
	Step int
	Err  error
}

func (e *ChainError) Error() string { return fmt.Sprintf("spawn: chain step %d: %v", e.Step, e.Err) }
func (e *ChainError) Unwrap() error { return e.Err }

// chainUndo bounds the shutdown of the hops already started when a later
// step fails.
const chainUndo = 20 * time.Second

// Chain starts steps one after the other, each through the context the
// step before it started (the first from node, or through the Via its
// own options name), and returns every hop's handle, first hop first:
// `ssh bastion -> ssh inner -> sudo root -> docker exec c` is one
// expression, and each hop stays reachable for supervision (its handle
// is a Child like any other). It is a loop over the methods' own starts
// with Common.Via, so everything docs/via.md says of one hop holds for
// each. On failure the hops started so far are shut down, last first, and
// the error is a *ChainError naming the step.
func Chain(ctx context.Context, node *actors.Node, steps ...Step) ([]Child, error) {
	hops := make([]Child, 0, len(steps))
	var via Hop
	for i, step := range steps {
		c, err := step(ctx, node, via)
		if err != nil {
			undo(hops)
			return nil, &ChainError{Step: i, Err: err}
		}
		hops = append(hops, c)
		via = c
	}
	return hops, nil
}

// undo shuts hops down, last first (the last is behind the others).
func undo(hops []Child) {
	ctx, cancel := context.WithTimeout(context.Background(), chainUndo)
	defer cancel()
	for i := len(hops) - 1; i >= 0; i-- {
		if err := hops[i].Shutdown(ctx); err != nil {
			_ = hops[i].Kill()
		}
	}
}

// LocalStep is the step of a local context (Local) with opts: through the
// chain's previous hop when there is one, else as opts.Via says.
func LocalStep(opts Options) Step {
	return func(ctx context.Context, node *actors.Node, via Hop) (Child, error) {
		if via != nil {
			opts.Via = via
		}
		return Local(ctx, node, opts)
	}
}

// TargetStep is the step of a context started through the target t
// (Start): through the chain's previous hop when there is one (t must
// then be a ViaTarget), else as c.Via says.
func TargetStep(t runner.Target, c Common, b Bootstrap) Step {
	return func(ctx context.Context, node *actors.Node, via Hop) (Child, error) {
		if via != nil {
			c.Via = via
		}
		return Start(ctx, node, t, c, b)
	}
}
