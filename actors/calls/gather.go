package calls

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// DefaultGatherConcurrent is GatherOptions.MaxConcurrent's default.
const DefaultGatherConcurrent = 16

// GatherOptions bounds a fan-out. The zero value is usable.
type GatherOptions struct {
	// MaxConcurrent is how many calls are in flight at once. Default
	// DefaultGatherConcurrent.
	MaxConcurrent int
	// Timeout bounds each call (from its start); 0: only ctx bounds it.
	// The whole fan-out ends by ctx's deadline: calls not started by then
	// fail with ctx's error.
	Timeout time.Duration
}

// Outcome is the result of one call of a fan-out.
type Outcome[Resp any] struct {
	Context uint32        // the target
	Resp    *Resp         // the answer, nil if Err
	Err     error         // this target's error
	Took    time.Duration // the call's round trip (0 if never started)
}

// Gather calls call once for each of targets, at most opts.MaxConcurrent at
// once, each with its own ctx bounded by opts.Timeout, and returns one
// Outcome per target, in the order of targets, once every call has
// returned. One target's error (a dead context, a refusal, a timeout)
// never stops the others. call runs on Gather's goroutines; it is any call,
// typically Call or CallService to target:
//
//	outs := calls.Gather(ctx, hosts, calls.GatherOptions{Timeout: 5 * time.Second},
//		func(ctx context.Context, id uint32) (*Uptime, error) {
//			return calls.Call[UptimeReq, Uptime](ctx, ep, id, "uptime", &UptimeReq{})
//		})
func Gather[Resp any](ctx context.Context, targets []uint32, opts GatherOptions, call func(ctx context.Context, target uint32) (*Resp, error)) []Outcome[Resp] {
	outs := make([]Outcome[Resp], len(targets))
	workers := opts.MaxConcurrent
	if workers <= 0 {
		workers = DefaultGatherConcurrent
	}
	workers = min(workers, len(targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				outs[i] = gatherOne(ctx, targets[i], opts.Timeout, call)
			}
		}()
	}
	i := 0
feed:
	for ; i < len(targets); i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for ; i < len(targets); i++ {
		outs[i] = Outcome[Resp]{Context: targets[i], Err: ctx.Err()}
	}
	return outs
}

func gatherOne[Resp any](ctx context.Context, target uint32, timeout time.Duration, call func(context.Context, uint32) (*Resp, error)) Outcome[Resp] {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	resp, err := call(ctx, target)
	o := Outcome[Resp]{Context: target, Resp: resp, Err: err, Took: time.Since(start)}
	if err != nil {
		o.Resp = nil
	}
	return o
}

// CallAll calls the function name with req in every context of targets,
// as Gather of Call does, with the same outcomes, but from the calling
// goroutine alone: it sends up to opts.MaxConcurrent requests and waits
// for their answers together, so a fan-out costs no goroutine per target.
func CallAll[Req, Resp any](ctx context.Context, ep *Endpoint, targets []uint32, name string, req *Req, opts GatherOptions) []Outcome[Resp] {
	window := opts.MaxConcurrent
	if window <= 0 {
		window = DefaultGatherConcurrent
	}
	f := fanOut[Resp]{ep: ep, ctx: ctx, opts: opts, outs: make([]Outcome[Resp], len(targets)),
		ch: make(chan outcome, max(1, min(window, len(targets)))), inflight: map[*pending]slot{}}
	for i, id := range targets {
		f.outs[i].Context = id
	}
	next := 0
	for next < len(targets) || len(f.inflight) > 0 {
		for ; next < len(targets) && len(f.inflight) < window; next++ {
			f.launch(next, wire.KindCallFunction, name, req)
		}
		if len(f.inflight) == 0 {
			continue
		}
		select {
		case o := <-f.ch:
			f.land(o)
		case <-ctx.Done():
			f.abandonAll()
			for ; next < len(targets); next++ {
				f.outs[next].Err = ctx.Err()
			}
		}
	}
	return f.outs
}

// fanOut is the state of one CallAll.
type fanOut[Resp any] struct {
	ep       *Endpoint
	ctx      context.Context
	opts     GatherOptions
	outs     []Outcome[Resp]
	ch       chan outcome // every call's outcome; room for all in flight
	inflight map[*pending]slot
}

type slot struct {
	i     int
	start time.Time
	timer *time.Timer // opts.Timeout
}

func (f *fanOut[Resp]) launch(i int, kind wire.Kind, name string, req any) {
	start := time.Now()
	p, err := f.ep.start(f.ctx, kind, f.outs[i].Context, name, "", req, f.ch, f.opts.Timeout)
	if err != nil {
		f.outs[i].Err = err
		return
	}
	s := slot{i: i, start: start}
	if f.opts.Timeout > 0 {
		s.timer = time.AfterFunc(f.opts.Timeout, func() {
			if f.ep.abandon(p) {
				f.ch <- outcome{p: p, err: context.DeadlineExceeded}
			}
		})
	}
	f.inflight[p] = s
}

// land records the outcome of one call.
func (f *fanOut[Resp]) land(o outcome) {
	s := f.inflight[o.p]
	delete(f.inflight, o.p)
	if s.timer != nil {
		s.timer.Stop()
	}
	out := &f.outs[s.i]
	out.Took = time.Since(s.start)
	body, err := f.ep.result(o.p, o)
	if err == nil {
		out.Resp, err = decoderFor[Resp](f.ep)(body)
		if err != nil {
			out.Resp, err = nil, fmt.Errorf("calls: %s in context %d: answer: %w", o.p.name, o.p.target, err)
		}
	}
	out.Err = err
}

// abandonAll gives up on every call in flight (ctx is done); those that
// were resolved meanwhile keep their outcome.
func (f *fanOut[Resp]) abandonAll() {
	for p, s := range f.inflight {
		if s.timer != nil {
			s.timer.Stop()
		}
		if f.ep.abandon(p) {
			f.ch <- outcome{p: p, err: f.ctx.Err()}
		}
	}
	for len(f.inflight) > 0 {
		f.land(<-f.ch)
	}
}
