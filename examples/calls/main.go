// Command calls is the quickstart's job done with package calls: it
// starts three local worker contexts, calls a function in all of them at
// once and prints one line per worker (result, round trip), asks a
// worker's service what a sibling may not, then SIGKILLs a worker while
// a call to it is in flight: the call fails at once with the exit status
// as its typed cause. Ctrl-C cancels the calls in flight, in the workers
// too. It exits 0 and leaves no child process behind.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn"
)

// SumReq asks for the sum of the squares 1..N; a Delay keeps it in flight.
type SumReq struct {
	N     int
	Delay time.Duration
}

// Sum is the answer.
type Sum struct {
	Sum int
	Pid int
}

// Ask asks a worker to call context To's service and its own parent's
// function, and to say how each went.
type Ask struct{ To uint32 }

// Asked is how it went.
type Asked struct{ Service, Function string }

// ErrTooBig is registered by name: callers test for it with errors.Is.
var ErrTooBig = errors.New("sum: N too big")

// setup runs in every context: the root and each worker.
func setup(n *actors.Node) error {
	ep, err := calls.New(n, calls.Config{MaxConcurrent: 8})
	if err != nil {
		return err
	}
	if err := calls.RegisterError(ep, "sum.ErrTooBig", ErrTooBig); err != nil {
		return err
	}
	sum := func(ctx context.Context, req *SumReq) (*Sum, error) {
		if req.N > 1_000_000 {
			return nil, fmt.Errorf("sum of %d squares: %w", req.N, ErrTooBig)
		}
		select { // honour the caller's cancellation and deadline
		case <-time.After(req.Delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s := 0
		for i := 1; i <= req.N; i++ {
			s += i * i
		}
		return &Sum{Sum: s, Pid: os.Getpid()}, nil
	}
	if err := calls.Handle(ep, "sum", sum); err != nil { // for ancestors only
		return err
	}
	// The same function as a service every context may call.
	svc, err := calls.NewService(ep, "math", calls.ServiceConfig{Policy: calls.AnyContext, MaxConcurrent: 2})
	if err != nil {
		return err
	}
	if err := calls.Method(svc, "sum", sum); err != nil {
		return err
	}
	return calls.Handle(ep, "ask", func(ctx context.Context, req *Ask) (*Asked, error) {
		var a Asked
		if s, err := calls.CallService[SumReq, Sum](ctx, ep, req.To, "math", "sum", &SumReq{N: 3}); err != nil {
			a.Service = err.Error()
		} else {
			a.Service = fmt.Sprint("sum 1..3 = ", s.Sum)
		}
		_, err := calls.Call[SumReq, Sum](ctx, ep, n.Parents()[0], "sum", &SumReq{N: 3})
		a.Function = fmt.Sprintf("refused = %v", errors.Is(err, calls.ErrRefused))
		return &a, nil
	})
}

func main() {
	spawn.Main(setup) // in a worker process this runs the context and never returns
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "calls:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	root, err := actors.NewNode(actors.Config{Setup: setup, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer root.Shutdown(context.Background()) // stops the workers too
	ep := calls.Of(root)
	var ids []uint32
	var workers []*spawn.Context
	for i := 1; i <= 3; i++ {
		w, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: fmt.Sprint("worker-", i)}})
		if err != nil {
			return err
		}
		workers, ids = append(workers, w), append(ids, w.ID())
	}

	// One call per worker, all at once, one outcome per worker.
	outs := calls.CallAll[SumReq, Sum](ctx, ep, ids, "sum", &SumReq{N: 80}, calls.GatherOptions{Timeout: 5 * time.Second})
	for _, o := range outs {
		if o.Err != nil {
			return o.Err
		}
		fmt.Fprintf(out, "context %d (pid %d): sum 1..80 = %d in %v\n", o.Context, o.Resp.Pid, o.Resp.Sum, o.Took.Round(time.Microsecond))
	}

	// Errors are errors: registered ones keep their identity across contexts.
	_, err = calls.Call[SumReq, Sum](ctx, ep, ids[0], "sum", &SumReq{N: 2_000_000})
	fmt.Fprintf(out, "too big: errors.Is(err, ErrTooBig) = %v\n", errors.Is(err, ErrTooBig))

	// A worker may call its sibling's service, not its parent's functions.
	a, err := calls.Call[Ask, Asked](ctx, ep, ids[0], "ask", &Ask{To: ids[1]})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "worker %d -> worker %d's service: %s; -> the root's function: %s\n", ids[0], ids[1], a.Service, a.Function)

	// A worker dies while a call to it is in flight: the call fails at once,
	// with the exit status as its cause.
	done := make(chan error, 1)
	go func() {
		_, err := calls.Call[SumReq, Sum](ctx, ep, ids[2], "sum", &SumReq{N: 1, Delay: time.Minute})
		done <- err
	}()
	for ep.Stats().Pending == 0 { // the call is on its way
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	_ = workers[2].Kill()
	err = <-done
	status, _ := spawn.ExitStatus(err)
	fmt.Fprintf(out, "killed worker: errors.Is(err, actors.ErrContextDead) = %v, exit status %d, after %v\n",
		errors.Is(err, actors.ErrContextDead), status, time.Since(start).Round(time.Millisecond))
	return nil
}
