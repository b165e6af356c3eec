package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// entry is one system taking part in a run.
type entry struct {
	sys     *system
	c       contender
	res     *Result
	raw     Raw
	oneWayN int // messages per one-way round, from the calibration burst
	busy    time.Duration
}

// phase is one workload run across every system that gives it: a warm-up
// per system, then rounds; round r visits the systems in an order rotated
// by r, so a change in the machine's background load during the run (these
// machines are shared) hits every system alike instead of whichever ran
// last.
type phase struct {
	name   string
	uses   func(Workloads) bool
	warm   func(ctx context.Context, en *entry) error // optional
	rounds int
	round  func(ctx context.Context, en *entry) error
	detail func(en *entry) string // optional, logged after the warm-up
}

func (e *env) phases() []phase {
	p := e.plan
	steady := func(w Workloads) bool { return w.RTT || w.PingPong || w.OneWay || w.Bulk }
	return []phase{
		{
			name: fmt.Sprintf("spawn (%d per round)", p.SpawnPerRound), uses: func(w Workloads) bool { return w.Spawn }, rounds: p.Rounds,
			warm: func(ctx context.Context, en *entry) error { _, err := en.c.spawnRound(ctx, p.SpawnWarmup); return err },
			round: func(ctx context.Context, en *entry) error {
				s, err := en.c.spawnRound(ctx, p.SpawnPerRound)
				en.raw.Spawn = append(en.raw.Spawn, s)
				return err
			},
		},
		{
			name: fmt.Sprintf("spawn %d at once", p.SpawnBatch), uses: func(w Workloads) bool { return w.Spawn10 }, rounds: p.Spawn10Rounds,
			round: func(ctx context.Context, en *entry) error {
				s, err := en.c.spawnBatchRound(ctx, p.SpawnBatch)
				en.raw.Spawn10 = append(en.raw.Spawn10, s)
				return err
			},
		},
		{name: "open a context for the steady workloads", uses: steady, warm: func(ctx context.Context, en *entry) error { return en.c.open(ctx) }},
		{
			name: fmt.Sprintf("round trips (%d per round)", p.RTTPerRound), uses: func(w Workloads) bool { return w.RTT }, rounds: p.Rounds,
			warm: func(ctx context.Context, en *entry) error { _, err := en.c.rttRound(ctx, p.RTTWarmup); return err },
			round: func(ctx context.Context, en *entry) error {
				s, err := en.c.rttRound(ctx, p.RTTPerRound)
				en.raw.RTT = append(en.raw.RTT, s)
				return err
			},
		},
		{
			name: fmt.Sprintf("actor ping-pong (%d per round)", p.RTTPerRound), uses: func(w Workloads) bool { return w.PingPong }, rounds: p.Rounds,
			warm: func(ctx context.Context, en *entry) error { _, err := en.c.pingPongRound(ctx, p.RTTWarmup); return err },
			round: func(ctx context.Context, en *entry) error {
				s, err := en.c.pingPongRound(ctx, p.RTTPerRound)
				en.raw.PingPong = append(en.raw.PingPong, s)
				return err
			},
		},
		{
			name: "one-way messages", uses: func(w Workloads) bool { return w.OneWay }, rounds: p.Rounds,
			warm: func(ctx context.Context, en *entry) error {
				r, err := en.c.oneWayRound(ctx, p.OneWayCalibrate)
				en.oneWayN = p.oneWayCount(r.N, time.Duration(r.Seconds*float64(time.Second)))
				return err
			},
			detail: func(en *entry) string { return fmt.Sprintf("%d messages per round", en.oneWayN) },
			round: func(ctx context.Context, en *entry) error {
				r, err := en.c.oneWayRound(ctx, en.oneWayN)
				en.raw.OneWay = append(en.raw.OneWay, r)
				return err
			},
		},
		{
			name: fmt.Sprintf("1 MiB round trips (%d per round)", p.BulkPerRound), uses: func(w Workloads) bool { return w.Bulk }, rounds: p.Rounds,
			warm: func(ctx context.Context, en *entry) error { _, err := en.c.bulkRound(ctx, p.BulkWarmup); return err },
			round: func(ctx context.Context, en *entry) error {
				s, err := en.c.bulkRound(ctx, p.BulkPerRound)
				en.raw.Bulk = append(en.raw.Bulk, s)
				return err
			},
		},
	}
}

// runAll measures the chosen systems in one run. limit bounds each single
// call into a system (one warm-up or one round); a system that errs or
// overruns is reported as failed and the others go on.
func runAll(ctx context.Context, e *env, chosen []*system, limit time.Duration) []*Result {
	var results []*Result
	var live []*entry
	for _, s := range chosen {
		en := &entry{sys: s, res: &Result{Name: s.name, About: s.about, InJSON: s.json == jsonAlways}}
		results = append(results, en.res)
		err := en.call(ctx, limit, func(ctx context.Context) (err error) {
			en.c, err = s.make(ctx, e, s)
			return err
		})
		if reason, ok := isSkip(err); ok {
			en.res.Skipped = reason
			e.log(s.name, "skipped: %s", reason)
			continue
		}
		if err != nil {
			en.fail(e, "start", err)
			continue
		}
		live = append(live, en)
	}
	for _, ph := range e.phases() {
		live = runPhase(ctx, e, ph, live, limit)
	}
	for _, en := range live {
		if err := en.c.close(); err != nil {
			e.log(en.sys.name, "warning: stopping: %v", err)
		}
		en.res.Figures = reduce(en.raw)
		en.res.InJSON = en.sys.json != jsonNever
		en.res.Elapsed = en.busy
		e.log(en.sys.name, "done, %.1fs measuring", en.busy.Seconds())
	}
	return results
}

// runPhase runs one workload over the live systems and returns those still
// live afterwards.
func runPhase(ctx context.Context, e *env, ph phase, live []*entry, limit time.Duration) []*entry {
	var in []*entry
	for _, en := range live {
		if ph.uses(en.sys.work) {
			in = append(in, en)
		}
	}
	if len(in) == 0 {
		return live
	}
	if ph.rounds > 0 {
		e.log("run", "%s: %d systems, %d rounds", ph.name, len(in), ph.rounds)
	} else {
		e.log("run", "%s: %d systems", ph.name, len(in))
	}
	failed := map[*entry]bool{}
	for _, en := range in {
		if ph.warm == nil {
			continue
		}
		if err := en.call(ctx, limit, func(ctx context.Context) error { return ph.warm(ctx, en) }); err != nil {
			en.fail(e, ph.name, err)
			failed[en] = true
		} else if ph.detail != nil {
			e.log(en.sys.name, "%s", ph.detail(en))
		}
	}
	for r := 0; r < ph.rounds; r++ {
		for i := range in {
			en := in[(i+r)%len(in)]
			if failed[en] {
				continue
			}
			if err := en.call(ctx, limit, func(ctx context.Context) error { return ph.round(ctx, en) }); err != nil {
				en.fail(e, ph.name, err)
				failed[en] = true
			}
		}
	}
	var still []*entry
	for _, en := range live {
		if !failed[en] {
			still = append(still, en)
		}
	}
	return still
}

// call runs f with a time limit. f gets a context with that deadline; a
// call that does not return in time is abandoned (its goroutine and
// processes end with the harness, or when fail closes the system), so one
// hung peer cannot hold the whole run.
func (en *entry) call(ctx context.Context, limit time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t0 := time.Now()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		en.busy += time.Since(t0)
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %v: %w", limit, ctx.Err())
	}
}

func (en *entry) fail(e *env, what string, err error) {
	en.res.Failed = fmt.Sprintf("%s: %v", what, err)
	e.log(en.sys.name, "FAILED: %s", en.res.Failed)
	switch {
	case en.c == nil:
	case errors.Is(err, context.DeadlineExceeded):
		go func(c contender) { _ = c.close() }(en.c) // may block behind the call that hung
	default:
		_ = en.c.close()
	}
}
