package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

// contender is one system during a run, driven one round at a time so that
// the rounds of every system are interleaved (see runAll). Each method does
// one round of a workload and returns its raw times in seconds.
type contender interface {
	// spawnRound starts n contexts one after the other, each until its
	// first reply, and stops each (untimed) before starting the next.
	spawnRound(ctx context.Context, n int) ([]float64, error)
	// spawnBatchRound starts n contexts at once and returns the time until
	// the last has replied.
	spawnBatchRound(ctx context.Context, n int) (float64, error)
	// open starts the context that serves the steady-state workloads.
	open(ctx context.Context) error
	rttRound(ctx context.Context, n int) ([]float64, error)
	// pingPongRound has two actors exchange n small messages and returns
	// the time of each exchange.
	pingPongRound(ctx context.Context, n int) ([]float64, error)
	oneWayRound(ctx context.Context, n int) (Rate, error)
	bulkRound(ctx context.Context, n int) ([]float64, error)
	// close stops whatever is still running; it is safe to call once
	// whatever happened before.
	close() error
}

// driver starts contexts of one system from Go; goContender turns it into
// a contender, timing every operation the same way for every Go system.
type driver interface {
	// start starts one context and returns once it has answered a first
	// request.
	start(ctx context.Context) (stopper, error)
	// open starts a context for the steady-state workloads.
	open(ctx context.Context) (session, error)
}

type stopper interface{ stop() error }

// pingPonger is a session whose context has actors that can answer an
// actor of the harness (or, for the floor, the same exchange without
// actors).
type pingPonger interface {
	pingPong(ctx context.Context, n int) ([]float64, error)
}

// session is a running context that answers the steady-state workloads.
type session interface {
	roundTrip(ctx context.Context) error     // one small request and its reply
	oneWay(ctx context.Context, n int) error // n small messages, returning once all are processed
	bulk(ctx context.Context) error          // one round trip carrying 1 MiB each way
	stopper
}

type goContender struct {
	d       driver
	s       session
	cleanup func() // releases what the driver holds (a root actor system)
}

var _ contender = (*goContender)(nil)

func (g *goContender) spawnRound(ctx context.Context, n int) ([]float64, error) {
	out := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		s, err := g.d.start(ctx)
		dt := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if err := s.stop(); err != nil {
			return nil, err
		}
		out = append(out, dt.Seconds())
	}
	return out, nil
}

func (g *goContender) spawnBatchRound(ctx context.Context, n int) (float64, error) {
	stoppers := make([]stopper, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range stoppers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stoppers[i], errs[i] = g.d.start(ctx)
		}(i)
	}
	wg.Wait()
	dt := time.Since(t0)
	for i, s := range stoppers {
		if s != nil {
			errs[i] = errors.Join(errs[i], s.stop())
		}
	}
	return dt.Seconds(), errors.Join(errs...)
}

func (g *goContender) open(ctx context.Context) error {
	s, err := g.d.open(ctx)
	g.s = s
	return err
}

func (g *goContender) rttRound(ctx context.Context, n int) ([]float64, error) {
	return timeEach(ctx, n, g.s.roundTrip)
}

func (g *goContender) pingPongRound(ctx context.Context, n int) ([]float64, error) {
	pp, ok := g.s.(pingPonger)
	if !ok {
		return nil, errors.New("this system has no ping-pong")
	}
	return pp.pingPong(ctx, n)
}

func (g *goContender) bulkRound(ctx context.Context, n int) ([]float64, error) {
	return timeEach(ctx, n, g.s.bulk)
}

func (g *goContender) oneWayRound(ctx context.Context, n int) (Rate, error) {
	t0 := time.Now()
	err := g.s.oneWay(ctx, n)
	return Rate{N: n, Seconds: time.Since(t0).Seconds()}, err
}

func (g *goContender) close() error {
	var err error
	if g.s != nil {
		err = g.s.stop()
		g.s = nil
	}
	if g.cleanup != nil {
		g.cleanup()
	}
	return err
}

// timeEach calls op n times and returns the time of each call.
func timeEach(ctx context.Context, n int, op func(context.Context) error) ([]float64, error) {
	samples := make([]float64, n)
	for i := range samples {
		t0 := time.Now()
		if err := op(ctx); err != nil {
			return nil, err
		}
		samples[i] = time.Since(t0).Seconds()
	}
	return samples, nil
}
