// Command quickstart is Spindle's main job: it starts four local worker
// contexts, spawns a worker actor in each, sends jobs with requests, prints
// the context tree, then SIGKILLs one worker while a request to it is in
// flight and shows the request failing fast with IS_DEAD and a watcher
// receiving Terminated. It exits 0 and leaves no child process behind.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Job asks a worker to sum the squares 1..N. A Delay keeps it in flight.
type Job struct {
	ID    int
	N     int
	Delay time.Duration
}

// Result is a worker's answer.
type Result struct {
	JobID  int
	Sum    int
	Worker string
	Pid    int
}

// setup runs in every context: the root and each worker.
func setup(n *actors.Node) error {
	if err := actors.RegisterType[Job](n, "quickstart.Job"); err != nil {
		return err
	}
	if err := actors.RegisterType[Result](n, "quickstart.Result"); err != nil {
		return err
	}
	n.RegisterKind("worker", actor.PropsFromProducer(func() actor.Actor { return &worker{node: n} }))
	return nil
}

type worker struct{ node *actors.Node }

func (w *worker) Receive(c actor.Context) {
	job, ok := c.Message().(*Job)
	if !ok {
		return
	}
	sum := 0
	for i := 1; i <= job.N; i++ {
		sum += i * i
	}
	res := &Result{JobID: job.ID, Sum: sum, Worker: w.node.Name(), Pid: os.Getpid()}
	if job.Delay == 0 {
		c.Respond(res)
		return
	}
	// Never block in Receive: answer later from a timer.
	sender, sys := c.Sender(), c.ActorSystem()
	time.AfterFunc(job.Delay, func() { sys.Root.Send(sender, res) })
}

// watcher forwards the Terminated it receives to a channel.
type watcher struct {
	target *actor.PID
	got    chan *actor.Terminated
}

func (w *watcher) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		c.Watch(w.target)
	case *actor.Terminated:
		w.got <- m
	}
}

func main() {
	spawn.Main(setup) // in a worker process this runs the context and never returns
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := actors.NewNode(actors.Config{Name: "root", Logger: logger, Setup: setup})
	if err != nil {
		return err
	}
	defer node.Shutdown(context.Background())

	fmt.Fprintln(out, "Spindle quickstart: 4 worker contexts on this machine")
	workers, pids, err := startWorkers(ctx, out, node, 4)
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "\nJobs (request/response across processes):")
	for i := 0; i < 8; i++ {
		start := time.Now()
		res, err := actors.Request[*Result](ctx, node, pids[i%4], &Job{ID: i + 1, N: 100 * (i + 1)})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  job %d -> %-9d by %s (pid %d) in %v\n", res.JobID, res.Sum, res.Worker, res.Pid, time.Since(start).Round(time.Microsecond))
	}

	fmt.Fprintln(out, "\nContext tree:")
	fmt.Fprintf(out, "  %s (ctx-%d, pid %d)\n", node.Name(), node.ID(), os.Getpid())
	for i, w := range workers {
		branch := "├─"
		if i == len(workers)-1 {
			branch = "└─"
		}
		fmt.Fprintf(out, "  %s %s (%s, pid %d) runs %s\n", branch, w.Name(), w.Address(), w.Pid(), actors.FormatPID(pids[i]))
	}

	victim := workers[2]
	fmt.Fprintf(out, "\nFailure: SIGKILL %s (pid %d) while a request to it is in flight\n", victim.Name(), victim.Pid())
	got := make(chan *actor.Terminated, 1)
	node.System().Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &watcher{target: pids[2], got: got} }))

	type outcome struct {
		err error
		at  time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		_, err := actors.Request[*Result](ctx, node, pids[2], &Job{ID: 99, N: 1, Delay: 10 * time.Second})
		done <- outcome{err, time.Now()}
	}()
	time.Sleep(50 * time.Millisecond) // let the request reach the worker
	killedAt := time.Now()
	if err := victim.Signal(context.Background(), runner.SIGKILL); err != nil {
		return err
	}
	o := <-done
	if o.err == nil {
		return errors.New("request to the killed worker succeeded")
	}
	fmt.Fprintf(out, "  request failed %v after the kill: %v\n", o.at.Sub(killedAt).Round(time.Microsecond), o.err)
	fmt.Fprintf(out, "  errors.Is(err, actors.ErrContextDead) = %v\n", errors.Is(o.err, actors.ErrContextDead))
	select {
	case t := <-got:
		fmt.Fprintf(out, "  watcher got Terminated{Who: %s, Why: %s}\n", actors.FormatPID(t.Who), t.Why)
	case <-time.After(5 * time.Second):
		return errors.New("watcher did not receive Terminated")
	}

	fmt.Fprintln(out, "\nShutdown:")
	for _, w := range workers {
		if err := w.Shutdown(ctx); err != nil && w != victim {
			return fmt.Errorf("shutdown %s: %w", w.Name(), err)
		}
		if err := syscall.Kill(w.Pid(), 0); err == nil {
			return fmt.Errorf("%s (pid %d) is still alive", w.Name(), w.Pid())
		}
	}
	fmt.Fprintln(out, "  all workers stopped; no child process left")
	return nil
}

func startWorkers(ctx context.Context, out io.Writer, node *actors.Node, count int) ([]*spawn.Context, []*actor.PID, error) {
	workers := make([]*spawn.Context, count)
	pids := make([]*actor.PID, count)
	errs := make([]error, count)
	lines := make([]string, count)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			w, err := spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: fmt.Sprintf("worker-%d", i+1)}})
			if err != nil {
				errs[i] = err
				return
			}
			workers[i] = w
			pids[i], errs[i] = w.Spawn(ctx, "worker", "worker")
			if errs[i] == nil {
				lines[i] = fmt.Sprintf("  started %s (%s, pid %d): spawned and first actor ready in %v",
					w.Name(), w.Address(), w.Pid(), time.Since(start).Round(time.Microsecond))
			}
		}(i)
	}
	wg.Wait()
	for _, l := range lines {
		if l != "" {
			fmt.Fprintln(out, l)
		}
	}
	return workers, pids, errors.Join(errs...)
}
