package main

import (
	"context"
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
	name  string
	about string // one line for the report's legend
	json  jsonPolicy
	work  Workloads
	// make prepares the system for a run. A *skipError means it is not
	// available here (a peer not installed, no sshd); any other error is a
	// failure.
	make func(ctx context.Context, e *env, s *system) (contender, error)
}

// systems in the order they appear in the table.
var systems = []*system{
	{name: "floor", json: jsonAlways, work: allWorkloads, make: makeFloor(false),
		about: "two Go processes, blocking read/write on two pipes, no framework; spawn is fork/exec of the child binary to its first byte"},
	{name: "floor (socketpair)", json: jsonNever, work: steadyWorkloads, make: makeFloor(true),
		about: "the same over an AF_UNIX socketpair"},
	{name: "spindle", json: jsonAlways, work: allWorkloads, make: makeSpindle(spawn.Pipes),
		about: "spawn.Local child context over pipes; an actor spawned in it, actors.Request / Node.Send"},
	{name: "spindle (socketpair)", json: jsonNever, work: steadyWorkloads, make: makeSpindle(spawn.SocketPair),
		about: "the same over a socketpair"},
	{name: "spindle_gen", json: jsonWhenRun, work: steadyWorkloads, make: makeSpindleGen,
		about: "spindle with the workload messages' msgp-generated twins (MarshalMsg/UnmarshalMsg, no reflection; still msgpack)"},
	{name: "spindle_metrics", json: jsonNever, work: observeWorkloads, make: makeSpindleMetrics,
		about: "spindle with otelmetrics and otelsupervision registered on a Prometheus MeterProvider, scraped every second (issue 16.7)"},
	{name: "spindle_trace", json: jsonNever, work: observeWorkloads, make: makeSpindleTrace,
		about: "spindle with oteltrace in root and child; requests and one-way sends (SendContext) carry a sampled span's traceparent (issue 16.7)"},
	{name: "mitogen", json: jsonAlways, work: mitogenWorkloads, make: makeMitogenLocal,
		about: "router.local() contexts, Context.call / call_no_reply, driven from /usr/bin/python3"},
	{name: "protoactor_grpc", json: jsonAlways, work: allWorkloads, make: makeProtoactor,
		about: "two protoactor-go actor systems joined by its gRPC remote on 127.0.0.1, protobuf messages"},
	{name: "protoactor_inproc", json: jsonWhenRun, work: steadyWorkloads, make: makeInproc,
		about: "two protoactor-go actors in the harness's process, the same Go messages, never encoded: the framework's own floor"},
	{name: "spindle_ssh", json: jsonWhenRun, work: sshWorkloads, make: makeSpindleSSH,
		about: "Spindle context over SSH to a private sshd on 127.0.0.1, binary already cached"},
	{name: "mitogen_ssh", json: jsonWhenRun, work: sshWorkloads, make: makeMitogenSSH,
		about: "router.ssh() contexts to a private sshd on 127.0.0.1"},
	{name: "floor_docker", json: jsonWhenRun, work: dockerWorkloads, make: makeFloorDocker,
		about: "`docker exec -i C true` to its exit; 64 bytes through `docker exec -i C cat` and back (the CLI's own cost)"},
	{name: "spindle_docker", json: jsonWhenRun, work: dockerWorkloads, make: makeSpindleDocker,
		about: "spawn/docker: `docker exec -i` into a busybox container (host /usr, /lib mounted read-only), binary already cached"},
	{name: "mitogen_docker", json: jsonWhenRun, work: dockerWorkloads, make: makeMitogenDocker,
		about: "router.docker() contexts in the same container (its python3 from the mounted /usr)"},
}

// jsonOrder is the order of the objects in the JSON file.
var jsonOrder = []string{"spindle", "spindle_gen", "floor", "mitogen", "protoactor_grpc", "protoactor_inproc", "spindle_ssh", "mitogen_ssh", "floor_docker", "spindle_docker", "mitogen_docker"}

// sshWorkloads are those issue 6 asks of SSH contexts: spawn (warm) and
// round trip.
var sshWorkloads = Workloads{Spawn: true, RTT: true}

// env is what systems share during a run: the plan, this binary, a root
// Spindle node and the private sshd, the last two made on first use.
type env struct {
	plan   Plan
	exe    string // the harness binary: the protoactor peer
	child  string // the binary of Spindle contexts and floor processes
	python string
	noSSH  bool
	log    func(system, format string, args ...any)

	nodeOnce sync.Once
	node     *actors.Node
	nodeErr  error

	sshOnce sync.Once
	sshd    *sshd
	sshErr  error

	noDocker   bool
	dockerOnce sync.Once
	docker     *dockerBox
	dockerErr  error

	mu       sync.Mutex
	versions map[string]string // what each peer reported about itself
}

func (e *env) spindleRoot() (*actors.Node, error) {
	e.nodeOnce.Do(func() { e.node, e.nodeErr = newSpindleRoot() })
	return e.node, e.nodeErr
}

func (e *env) sshTarget(ctx context.Context) (sshTarget, error) {
	if e.noSSH {
		return sshTarget{}, skipf("SSH systems turned off (-ssh=false)")
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
	if e.docker != nil {
		e.docker.c.Remove()
	}
}

func makeFloor(sock bool) func(context.Context, *env, *system) (contender, error) {
	return func(_ context.Context, e *env, _ *system) (contender, error) {
		return &goContender{d: &floorDriver{exe: e.child, sock: sock}}, nil
	}
}

func makeSpindle(link spawn.LinkKind) func(context.Context, *env, *system) (contender, error) {
	return func(_ context.Context, e *env, _ *system) (contender, error) {
		node, err := e.spindleRoot()
		if err != nil {
			return nil, err
		}
		return &goContender{d: &spindleDriver{node: node, launch: localLauncher(node, e.child, link), msgs: reflectiveMessages}}, nil
	}
}

// makeSpindleGen is spindle over pipes with generated codecs.
func makeSpindleGen(_ context.Context, e *env, _ *system) (contender, error) {
	node, err := e.spindleRoot()
	if err != nil {
		return nil, err
	}
	return &goContender{d: &spindleDriver{node: node, launch: localLauncher(node, e.child, spawn.Pipes), msgs: generatedMessages}}, nil
}

func makeProtoactor(_ context.Context, e *env, _ *system) (contender, error) {
	d := newProtoactorDriver(e.exe)
	return &goContender{d: d, cleanup: d.close}, nil
}

func makeMitogenLocal(ctx context.Context, e *env, _ *system) (contender, error) {
	v, err := probeMitogen(ctx, e.python)
	if err != nil {
		return nil, err
	}
	e.setVersion("mitogen", v)
	return startMitogen(e.python, mitogenTarget{Via: "local"})
}

func makeMitogenSSH(ctx context.Context, e *env, _ *system) (contender, error) {
	v, err := probeMitogen(ctx, e.python)
	if err != nil {
		return nil, err
	}
	e.setVersion("mitogen", v)
	t, err := e.sshTarget(ctx)
	if err != nil {
		return nil, err
	}
	return startMitogen(e.python, mitogenTarget{Via: "ssh", Host: t.Host, Port: t.Port, User: t.User, Identity: t.Identity})
}

// spindleSSHLauncher starts a Spindle context over SSH on t, running exe
// (spindle_ssh.go). The spindle_ssh column runs the same workloads as
// mitogen_ssh, against the same private sshd.
var spindleSSHLauncher func(node *actors.Node, exe string, t sshTarget) func(ctx context.Context, name string) (spawn.Child, error) = sshLauncher

func makeSpindleSSH(ctx context.Context, e *env, _ *system) (contender, error) {
	if spindleSSHLauncher == nil {
		return nil, skipf("spawn/ssh is not in this build of the library (SSH contexts, issue 4)")
	}
	t, err := e.sshTarget(ctx)
	if err != nil {
		return nil, err
	}
	node, err := e.spindleRoot()
	if err != nil {
		return nil, err
	}
	return &goContender{d: &spindleDriver{node: node, launch: spindleSSHLauncher(node, e.child, t), msgs: reflectiveMessages}}, nil
}
