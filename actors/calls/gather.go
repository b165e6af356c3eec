package calls

import (
	"context"
	"sync"
	"time"
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

// CallAll calls the function name with req in every context of targets:
// Gather of Call.
func CallAll[Req, Resp any](ctx context.Context, ep *Endpoint, targets []uint32, name string, req *Req, opts GatherOptions) []Outcome[Resp] {
	return Gather(ctx, targets, opts, func(ctx context.Context, id uint32) (*Resp, error) {
		return Call[Req, Resp](ctx, ep, id, name, req)
	})
}
