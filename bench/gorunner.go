package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// driver starts contexts of one system from Go. The Go-side runner does
// the warm-up, the rounds and the timing, so every Go system is measured
// the same way.
type driver interface {
	// start starts one context and returns once it has answered a first
	// request; stopping it is not part of the measured time.
	start(ctx context.Context) (stopper, error)
	// open starts a context for the steady-state workloads.
	open(ctx context.Context) (session, error)
}

type stopper interface{ stop() error }

// session is a running context that answers the steady-state workloads.
type session interface {
	roundTrip(ctx context.Context) error     // one small request and its reply
	oneWay(ctx context.Context, n int) error // n small messages, returning once all are processed
	bulk(ctx context.Context) error          // one round trip carrying 1 MiB each way
	stopper
}

// runGo runs plan against a driver.
func runGo(ctx context.Context, d driver, w Workloads, p Plan, log func(string, ...any)) (raw Raw, err error) {
	if w.Spawn {
		log("spawn x%d", p.SpawnWarmup+p.Rounds*p.SpawnPerRound)
		if raw.Spawn, err = runSpawn(ctx, d, p); err != nil {
			return raw, fmt.Errorf("spawn: %w", err)
		}
	}
	if w.Spawn10 {
		log("spawn %d at once x%d", p.SpawnBatch, p.Spawn10Rounds)
		if raw.Spawn10, err = runSpawnBatch(ctx, d, p); err != nil {
			return raw, fmt.Errorf("spawn %d: %w", p.SpawnBatch, err)
		}
	}
	if !w.RTT && !w.OneWay && !w.Bulk {
		return raw, nil
	}
	s, err := d.open(ctx)
	if err != nil {
		return raw, fmt.Errorf("open: %w", err)
	}
	defer func() { err = errors.Join(err, s.stop()) }()
	if w.RTT {
		log("round trips %d x%d", p.RTTPerRound, p.Rounds)
		if raw.RTT, err = timeEach(ctx, p.RTTWarmup, p.Rounds, p.RTTPerRound, s.roundTrip); err != nil {
			return raw, fmt.Errorf("round trip: %w", err)
		}
	}
	if w.OneWay {
		if raw.OneWay, err = runOneWay(ctx, s, p, log); err != nil {
			return raw, fmt.Errorf("one-way: %w", err)
		}
	}
	if w.Bulk {
		log("1 MiB round trips %d x%d", p.BulkPerRound, p.Rounds)
		if raw.Bulk, err = timeEach(ctx, p.BulkWarmup, p.Rounds, p.BulkPerRound, s.bulk); err != nil {
			return raw, fmt.Errorf("bulk: %w", err)
		}
	}
	return raw, nil
}

// timeEach calls op warmup times, then rounds×perRound times, timing each
// measured call.
func timeEach(ctx context.Context, warmup, rounds, perRound int, op func(context.Context) error) ([][]float64, error) {
	for i := 0; i < warmup; i++ {
		if err := op(ctx); err != nil {
			return nil, err
		}
	}
	out := make([][]float64, rounds)
	for r := range out {
		samples := make([]float64, perRound)
		for i := range samples {
			t0 := time.Now()
			if err := op(ctx); err != nil {
				return nil, err
			}
			samples[i] = time.Since(t0).Seconds()
		}
		out[r] = samples
	}
	return out, nil
}

func runSpawn(ctx context.Context, d driver, p Plan) ([][]float64, error) {
	once := func(context.Context) error {
		s, err := d.start(ctx)
		if err != nil {
			return err
		}
		return s.stop()
	}
	// Time only the start; stopping happens after the clock stops.
	timed := func(ctx context.Context) (time.Duration, error) {
		t0 := time.Now()
		s, err := d.start(ctx)
		dt := time.Since(t0)
		if err != nil {
			return 0, err
		}
		return dt, s.stop()
	}
	for i := 0; i < p.SpawnWarmup; i++ {
		if err := once(ctx); err != nil {
			return nil, err
		}
	}
	out := make([][]float64, p.Rounds)
	for r := range out {
		for i := 0; i < p.SpawnPerRound; i++ {
			dt, err := timed(ctx)
			if err != nil {
				return nil, err
			}
			out[r] = append(out[r], dt.Seconds())
		}
	}
	return out, nil
}

// runSpawnBatch starts SpawnBatch contexts at once per round and records
// the time until the last one has replied.
func runSpawnBatch(ctx context.Context, d driver, p Plan) ([]float64, error) {
	out := make([]float64, 0, p.Spawn10Rounds)
	for r := 0; r < p.Spawn10Rounds; r++ {
		stoppers := make([]stopper, p.SpawnBatch)
		errs := make([]error, p.SpawnBatch)
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := range stoppers {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				stoppers[i], errs[i] = d.start(ctx)
			}(i)
		}
		wg.Wait()
		dt := time.Since(t0)
		for i, s := range stoppers {
			if s != nil {
				errs[i] = errors.Join(errs[i], s.stop())
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		out = append(out, dt.Seconds())
	}
	return out, nil
}

// runOneWay sizes the rounds with a calibration burst, then measures.
func runOneWay(ctx context.Context, s session, p Plan, log func(string, ...any)) ([]Rate, error) {
	t0 := time.Now()
	if err := s.oneWay(ctx, p.OneWayCalibrate); err != nil {
		return nil, err
	}
	n := p.oneWayCount(p.OneWayCalibrate, time.Since(t0))
	log("one-way %d x%d", n, p.Rounds)
	out := make([]Rate, p.Rounds)
	for r := range out {
		t0 := time.Now()
		if err := s.oneWay(ctx, n); err != nil {
			return nil, err
		}
		out[r] = Rate{N: n, Seconds: time.Since(t0).Seconds()}
	}
	return out, nil
}
