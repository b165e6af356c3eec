package main

import (
	"context"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/bench/internal/workload"
)

// The in-process protoactor reference: the harness's own actor system, an
// echo and a counter actor in it, and the same Go messages as Spindle's
// workloads, never encoded. It is what protoactor costs with no link, no
// process boundary and no codec: the framework's own floor. Its actors use
// protoactor's default goroutine dispatcher explicitly (package actors,
// which the harness links, makes zero-hop delivery the default).

type inprocDriver struct{ sys *actor.ActorSystem }

func makeInproc(context.Context, *env, *system) (contender, error) {
	d := &inprocDriver{sys: actor.NewActorSystem(actor.WithLoggerFactory(quietLogger))}
	return &goContender{d: d, cleanup: d.sys.Shutdown}, nil
}

// protoDispatcher is protoactor's default dispatcher, named explicitly.
var protoDispatcher = actor.WithDispatcher(actor.NewDefaultDispatcher(300))

type inprocSession struct {
	sys       *actor.ActorSystem
	echo, ctr *actor.PID
	tick      workload.Tick
}

func (d *inprocDriver) start(context.Context) (stopper, error) {
	return nil, fmt.Errorf("inproc: no contexts to spawn")
}

func (d *inprocDriver) open(context.Context) (session, error) {
	s := &inprocSession{sys: d.sys}
	s.echo = d.sys.Root.Spawn(actor.PropsFromProducer(workload.NewEcho, protoDispatcher))
	s.ctr = d.sys.Root.Spawn(actor.PropsFromProducer(workload.NewCounter, protoDispatcher))
	return s, nil
}

func (s *inprocSession) request(pid *actor.PID, msg any) (any, error) {
	return s.sys.Root.RequestFuture(pid, msg, paTimeout).Result()
}

func (s *inprocSession) roundTrip(context.Context) error {
	_, err := s.request(s.echo, &workload.Ping{N: 1})
	return err
}

func (s *inprocSession) pingPong(ctx context.Context, n int) ([]float64, error) {
	return pingPongOn(ctx, s.sys, s.echo, &workload.Ping{N: 1}, n, protoDispatcher)
}

func (s *inprocSession) bulk(context.Context) error {
	res, err := s.request(s.echo, &workload.Ping{Payload: bulkPayload})
	if p, ok := res.(*workload.Pong); err == nil && (!ok || len(p.Payload) != bulkBytes) {
		err = fmt.Errorf("bulk reply was %T", res)
	}
	return err
}

func (s *inprocSession) oneWay(_ context.Context, n int) error {
	for i := 0; i < n; i++ {
		s.sys.Root.Send(s.ctr, &s.tick)
	}
	res, err := s.request(s.ctr, &workload.HowMany{})
	if got, ok := res.(*workload.Ticks); err == nil && (!ok || got.N != n) {
		err = fmt.Errorf("counter answered %v for %d messages", res, n)
	}
	return err
}

func (s *inprocSession) stop() error {
	s.sys.Root.Stop(s.echo)
	s.sys.Root.Stop(s.ctr)
	return nil
}
