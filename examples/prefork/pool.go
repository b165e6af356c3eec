package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

// poolConfig configures a pool. Zero values mean the defaults noted.
type poolConfig struct {
	Addr    string // default 127.0.0.1:0
	Workers int    // default 3
	// Kind returns the actor kind that feeds the named worker's server.
	// Default: kindHTTP for every worker. Tests swap in broken variants.
	Kind func(worker string) string
	// Policy of the supervisor. Default one_for_one, 5 restarts in 10s.
	Policy supervision.Policy
	Logger *slog.Logger // default slog.Default()
}

// pool is the parent side: the root context, a listener, a supervisor of
// worker contexts and a dispatcher that hands them the connections.
type pool struct {
	node *actors.Node
	sup  *supervision.Supervisor
	disp *actors.Dispatcher
	ln   net.Listener

	stopServe context.CancelFunc
	served    chan error // Serve's result

	closeOnce sync.Once
	closeErr  error
}

// startPool listens, starts the workers (without waiting for them) and
// dispatches the connections; connections that arrive before any worker is
// up wait in the dispatcher. The caller must close the pool.
func startPool(cfg poolConfig) (p *pool, err error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 3
	}
	if cfg.Kind == nil {
		cfg.Kind = func(string) string { return kindHTTP }
	}
	if cfg.Policy == (supervision.Policy{}) {
		cfg.Policy = supervision.Policy{Strategy: supervision.OneForOne, MaxRestarts: 5, Period: 10 * time.Second}
	}
	node, err := actors.NewNode(actors.Config{Name: "prefork", Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = node.Shutdown(context.Background())
		}
	}()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	sup, err := supervision.Start(context.Background(), node, supervision.Config{Name: "prefork", Policy: cfg.Policy, Children: workerSpecs(cfg)})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	p = &pool{node: node, sup: sup, ln: ln, served: make(chan error, 1)}
	p.disp = actors.NewDispatcher(node, p.workers)
	ctx, cancel := context.WithCancel(context.Background())
	p.stopServe = cancel
	go func() { p.served <- p.disp.Serve(ctx, ln) }()
	return p, nil
}

// workerSpecs describes the supervised workers: local child processes
// (this program, re-executed) joined by a socketpair, which can carry the
// connections' descriptors, each running one actor named "http".
func workerSpecs(cfg poolConfig) []supervision.ContextSpec {
	start := func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
		return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name}, Link: spawn.SocketPair})
	}
	specs := make([]supervision.ContextSpec, cfg.Workers)
	for i := range specs {
		name := fmt.Sprintf("worker-%d", i+1)
		specs[i] = supervision.ContextSpec{Name: name, Restart: supervision.Permanent, Start: start,
			Actors: []supervision.ActorSpec{{Kind: cfg.Kind(name), Name: "http"}}}
	}
	return specs
}

// workers returns the "http" actors of the workers that are up: the
// dispatcher asks for every connection, so restarts are picked up.
func (p *pool) workers() []*actor.PID {
	var pids []*actor.PID
	for _, ci := range p.sup.Children() {
		if pid := ci.PIDs["http"]; ci.Up && pid != nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Addr returns the address the pool listens on.
func (p *pool) Addr() string { return p.ln.Addr().String() }

// URL returns the pool's base URL.
func (p *pool) URL() string { return "http://" + p.Addr() + "/" }

// close stops accepting (connections under way still reach a worker),
// stops the workers gracefully (requests under way finish) and shuts the
// root context down. It is safe to call more than once.
func (p *pool) close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.stopServe()
		err := <-p.served
		if serr := p.sup.Stop(ctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop supervisor: %w", serr))
		}
		if nerr := p.node.Shutdown(ctx); nerr != nil {
			err = errors.Join(err, fmt.Errorf("shut down: %w", nerr))
		}
		p.closeErr = err
	})
	return p.closeErr
}

// pidOf returns the process ID of a worker's current incarnation, or 0.
func pidOf(ci supervision.ChildInfo) int {
	if c, ok := ci.Context.(*spawn.Context); ok {
		return c.Pid()
	}
	return 0
}

// roll lists the workers: name, context ID and process ID.
func roll(sup *supervision.Supervisor) string {
	var b strings.Builder
	for _, ci := range sup.Children() {
		fmt.Fprintf(&b, "  %s=ctx %d/pid %d", ci.Name, ci.ID, pidOf(ci))
	}
	return b.String()
}

// waitUp waits until every worker is up.
func waitUp(sup *supervision.Supervisor, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		all := true
		for _, ci := range sup.Children() {
			all = all && ci.Up
		}
		if all {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("workers not up within %v", d)
}

// waitRestarted waits until the named worker is up again as a context
// other than oldID.
func waitRestarted(sup *supervision.Supervisor, name string, oldID uint32, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ci, _ := sup.Child(name); ci.Up && ci.ID != oldID {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s was not restarted within %v", name, d)
}
