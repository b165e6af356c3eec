package main

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// pinger is the harness's side of the ping-pong workload: an actor that
// sends a small request to target from its Receive (ctx.Request, so the
// answer comes back to it as a message), and the next one as soon as the
// answer arrives, n times; it records the time of each exchange.
type pinger struct {
	target *actor.PID
	msg    any
	n      int
	times  []float64
	t0     time.Time
	done   chan struct{}
}

type pingStart struct{}

func (p *pinger) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
		return
	case *pingStart:
	default: // the answer
		p.times = append(p.times, time.Since(p.t0).Seconds())
		if len(p.times) == p.n {
			close(p.done)
			return
		}
	}
	p.t0 = time.Now()
	c.Request(p.target, p.msg)
}

// pingPongOn runs the ping-pong workload with a pinger spawned in sys
// (props options such as its dispatcher in opts) against target.
func pingPongOn(ctx context.Context, sys *actor.ActorSystem, target *actor.PID, msg any, n int, opts ...actor.PropsOption) ([]float64, error) {
	p := &pinger{target: target, msg: msg, n: n, times: make([]float64, 0, n), done: make(chan struct{})}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }, opts...))
	defer sys.Root.Stop(pid)
	sys.Root.Send(pid, &pingStart{})
	select {
	case <-p.done:
		return p.times, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("ping-pong of %d exchanges: %w", n, ctx.Err())
	}
}
