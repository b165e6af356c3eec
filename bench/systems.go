package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// jsonPolicy says when a system has an object in the JSON file.
type jsonPolicy int

const (
	jsonNever   jsonPolicy = iota // a variant shown in the table only
	jsonAlways                    // the four systems of issue 6, null when skipped
	jsonWhenRun                   // the SSH systems
)

// system is one column of the comparison.
type system struct {
	name string
	json jsonPolicy
	work Workloads
	// run measures the system. A *skipError result means it is not
	// available here; any other error is a failure.
	run func(ctx context.Context, e *env, s *system) (Raw, error)
}

// systems in the order they run and appear in the table.
var systems = []*system{
	{name: "floor", json: jsonAlways, work: allWorkloads, run: runFloor(false)},
	{name: "floor (socketpair)", json: jsonNever, work: steadyWorkloads, run: runFloor(true)},
	{name: "spindle", json: jsonAlways, work: allWorkloads, run: runSpindle(spawn.Pipes)},
	{name: "spindle (socketpair)", json: jsonNever, work: steadyWorkloads, run: runSpindle(spawn.SocketPair)},
	{name: "mitogen", json: jsonAlways, work: allWorkloads, run: runMitogenLocal},
	{name: "protoactor_grpc", json: jsonAlways, work: allWorkloads, run: runProtoactor},
	{name: "spindle_ssh", json: jsonWhenRun, work: sshWorkloads, run: runSpindleSSH},
	{name: "mitogen_ssh", json: jsonWhenRun, work: sshWorkloads, run: runMitogenSSH},
}

// jsonOrder is the order of the objects in the JSON file.
var jsonOrder = []string{"spindle", "floor", "mitogen", "protoactor_grpc", "spindle_ssh", "mitogen_ssh"}

// sshWorkloads are those issue 6 asks of SSH contexts: spawn (warm) and
// round trip.
var sshWorkloads = Workloads{Spawn: true, RTT: true}

// env is what systems share during a run: the plan, this binary, a root
// Spindle node and the private sshd, the last two made on first use.
type env struct {
	plan   Plan
	exe    string
	python string
	noSSH  bool
	log    func(system, format string, args ...any)

	nodeOnce sync.Once
	node     *actors.Node
	nodeErr  error

	sshOnce sync.Once
	sshd    *sshd
	sshErr  error

	mu       sync.Mutex
	versions map[string]string // what each peer reported about itself
}

func (e *env) logger(name string) func(string, ...any) {
	return func(format string, args ...any) { e.log(name, format, args...) }
}

func (e *env) spindleRoot() (*actors.Node, error) {
	e.nodeOnce.Do(func() { e.node, e.nodeErr = newSpindleRoot() })
	return e.node, e.nodeErr
}

func (e *env) sshTarget(ctx context.Context) (sshTarget, error) {
	if e.noSSH {
		return sshTarget{}, skipf("SSH rows turned off (-ssh=false)")
	}
	e.sshOnce.Do(func() { e.sshd, e.sshErr = startSSHD(ctx) })
	if e.sshErr != nil {
		return sshTarget{}, e.sshErr
	}
	return e.sshd.target, nil
}

func (e *env) setVersion(k, v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.versions == nil {
		e.versions = map[string]string{}
	}
	e.versions[k] = v
}

func (e *env) close() {
	if e.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = e.node.Shutdown(ctx)
	}
	if e.sshd != nil {
		e.sshd.stop()
	}
}

func runFloor(sock bool) func(context.Context, *env, *system) (Raw, error) {
	return func(ctx context.Context, e *env, s *system) (Raw, error) {
		return runGo(ctx, &floorDriver{exe: e.exe, sock: sock}, s.work, e.plan, e.logger(s.name))
	}
}

func runSpindle(link spawn.LinkKind) func(context.Context, *env, *system) (Raw, error) {
	return func(ctx context.Context, e *env, s *system) (Raw, error) {
		node, err := e.spindleRoot()
		if err != nil {
			return Raw{}, err
		}
		return runGo(ctx, &spindleDriver{node: node, launch: localLauncher(node, link)}, s.work, e.plan, e.logger(s.name))
	}
}

func runProtoactor(ctx context.Context, e *env, s *system) (Raw, error) {
	d := newProtoactorDriver(e.exe)
	defer d.close()
	return runGo(ctx, d, s.work, e.plan, e.logger(s.name))
}

func runMitogenLocal(ctx context.Context, e *env, s *system) (Raw, error) {
	v, err := probeMitogen(ctx, e.python)
	if err != nil {
		return Raw{}, err
	}
	e.setVersion("mitogen", v)
	return runMitogen(ctx, e.python, mitogenTarget{Via: "local"}, s.work, e.plan, e.logger(s.name))
}

func runMitogenSSH(ctx context.Context, e *env, s *system) (Raw, error) {
	v, err := probeMitogen(ctx, e.python)
	if err != nil {
		return Raw{}, err
	}
	e.setVersion("mitogen", v)
	t, err := e.sshTarget(ctx)
	if err != nil {
		return Raw{}, err
	}
	return runMitogen(ctx, e.python, mitogenTarget{Via: "ssh", Host: t.Host, Port: t.Port, User: t.User, Identity: t.Identity},
		s.work, e.plan, e.logger(s.name))
}

// spindleSSHLauncher starts a Spindle context over SSH on t. It is nil
// until SSH contexts (issue 4, spawn.SSH) are in the library: the file that
// adapts spawn.SSH sets it from an init function, and the spindle_ssh
// column then runs the same workloads as the other Spindle columns, against
// the same private sshd as mitogen_ssh. "Warm" spawn means the binary is
// already cached on the host: the adapter's first call (the warm-up)
// uploads it.
var spindleSSHLauncher func(node *actors.Node, t sshTarget) func(ctx context.Context, name string) (spawn.Child, error)

func runSpindleSSH(ctx context.Context, e *env, s *system) (Raw, error) {
	if spindleSSHLauncher == nil {
		return Raw{}, skipf("spawn.SSH is not in this build of the library (SSH contexts, issue 4)")
	}
	t, err := e.sshTarget(ctx)
	if err != nil {
		return Raw{}, err
	}
	node, err := e.spindleRoot()
	if err != nil {
		return Raw{}, err
	}
	d := &spindleDriver{node: node, launch: spindleSSHLauncher(node, t)}
	return runGo(ctx, d, s.work, e.plan, e.logger(s.name))
}

// measure runs one system under a time limit and turns what happened into
// its Result.
func measure(ctx context.Context, e *env, s *system, limit time.Duration) *Result {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t0 := time.Now()
	raw, err := runBounded(ctx, e, s)
	r := &Result{Name: s.name, InJSON: s.json == jsonAlways, Elapsed: time.Since(t0)}
	if reason, ok := isSkip(err); ok {
		r.Skipped = reason
		return r
	}
	if err != nil {
		r.Failed = err.Error()
		return r
	}
	r.InJSON = s.json != jsonNever
	r.Figures = reduce(raw)
	return r
}

// runBounded returns when the system finishes or its time is up, so that
// a peer that hangs cannot hold the whole run. A system past its limit is
// abandoned (its goroutine and processes end when the harness exits); the
// drivers bound their own waits, so this is a last resort.
func runBounded(ctx context.Context, e *env, s *system) (Raw, error) {
	type out struct {
		raw Raw
		err error
	}
	done := make(chan out, 1)
	go func() {
		raw, err := s.run(ctx, e, s)
		done <- out{raw, err}
	}()
	select {
	case o := <-done:
		return o.raw, o.err
	case <-ctx.Done():
		return Raw{}, fmt.Errorf("gave up after the system's time limit: %w", ctx.Err())
	}
}
