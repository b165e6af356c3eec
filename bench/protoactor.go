package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/spindle-go/spindle/bench/internal/workload"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The protoactor-go peer: two actor systems joined by protoactor's own gRPC
// remote on 127.0.0.1, the way a protoactor user would connect processes
// today. The peer is this binary again, started with the protoactor-peer
// role; it serves an echo and a counter actor and exits when its stdin
// closes. Messages are protobuf well-known types (Int64Value for the small
// request, BytesValue for 1 MiB, UInt32Value as the one-way tick, Empty to
// ask the count), so no generated code is needed.

const paTimeout = 30 * time.Second

// roleProtoactor is the role of the harness binary as the protoactor peer.
const roleProtoactor = "protoactor-peer"

func quietLogger(*actor.ActorSystem) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newRemoteSystem starts an actor system with a gRPC remote on a free
// loopback port.
func newRemoteSystem() (*actor.ActorSystem, *remote.Remote) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(quietLogger))
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0))
	r.Start()
	return sys, r
}

type paEcho struct{}

func (paEcho) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *wrapperspb.Int64Value, *wrapperspb.BytesValue:
		c.Respond(c.Message())
	}
}

type paCounter struct{ n int64 }

func (k *paCounter) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *wrapperspb.UInt32Value:
		k.n++
	case *emptypb.Empty:
		c.Respond(wrapperspb.Int64(k.n))
		k.n = 0
	}
}

// protoactorPeer is the peer role: it prints its address, then serves
// until stdin closes.
func protoactorPeer() int {
	sys, r := newRemoteSystem()
	if _, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return paEcho{} }), "echo"); err != nil {
		fmt.Fprintln(os.Stderr, "protoactor peer:", err)
		return 1
	}
	if _, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &paCounter{} }), "counter"); err != nil {
		fmt.Fprintln(os.Stderr, "protoactor peer:", err)
		return 1
	}
	if path := os.Getenv(workload.ProfileEnv); path != "" { // the -profile pass
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	fmt.Printf("ADDR %s\n", sys.Address())
	_, _ = io.Copy(io.Discard, os.Stdin)
	r.Shutdown(false)
	return 0
}

type protoactorDriver struct {
	exe string
	sys *actor.ActorSystem
	r   *remote.Remote
}

func newProtoactorDriver(exe string) *protoactorDriver {
	sys, r := newRemoteSystem()
	return &protoactorDriver{exe: exe, sys: sys, r: r}
}

func (d *protoactorDriver) close() {
	d.r.Shutdown(false)
	d.sys.Shutdown()
}

type paPeer struct {
	d          *protoactorDriver
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	echo, ctr  *actor.PID
	tick       *wrapperspb.UInt32Value
	small, big any
}

// startPeer starts a peer process and returns once it listens. The peer
// outlives ctx, which only bounds the wait for its address.
func (d *protoactorDriver) startPeer(ctx context.Context) (*paPeer, error) {
	cmd := exec.Command(d.exe)
	cmd.Env = append(os.Environ(), workload.RoleEnv+"="+roleProtoactor)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &paPeer{d: d, cmd: cmd, stdin: stdin, tick: &wrapperspb.UInt32Value{}}
	stopWait := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	stopWait()
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		_ = p.stop()
		return nil, fmt.Errorf("protoactor peer did not report its address (%q): %v", line, err)
	}
	p.echo = actor.NewPID(addr, "echo")
	p.ctr = actor.NewPID(addr, "counter")
	p.small = wrapperspb.Int64(1)
	p.big = wrapperspb.Bytes(bulkPayload)
	return p, nil
}

func (d *protoactorDriver) start(ctx context.Context) (stopper, error) {
	p, err := d.startPeer(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.roundTrip(ctx); err != nil {
		return nil, errors.Join(err, p.stop())
	}
	return p, nil
}

func (d *protoactorDriver) open(ctx context.Context) (session, error) { return d.startPeer(ctx) }

func (p *paPeer) request(pid *actor.PID, msg any) (any, error) {
	return p.d.sys.Root.RequestFuture(pid, msg, paTimeout).Result()
}

func (p *paPeer) roundTrip(context.Context) error {
	_, err := p.request(p.echo, p.small)
	return err
}

func (p *paPeer) bulk(context.Context) error {
	res, err := p.request(p.echo, p.big)
	if err != nil {
		return err
	}
	if b, ok := res.(*wrapperspb.BytesValue); !ok || len(b.Value) != bulkBytes {
		return fmt.Errorf("bulk reply was %T", res)
	}
	return nil
}

func (p *paPeer) oneWay(_ context.Context, n int) error {
	for i := 0; i < n; i++ {
		p.d.sys.Root.Send(p.ctr, p.tick)
	}
	res, err := p.request(p.ctr, &emptypb.Empty{})
	if err != nil {
		return err
	}
	if got, ok := res.(*wrapperspb.Int64Value); !ok || got.Value != int64(n) {
		return fmt.Errorf("counter answered %v for %d messages", res, n)
	}
	return nil
}

func (p *paPeer) stop() error {
	_ = p.stdin.Close()
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("protoactor peer: %w", err)
	}
	return err
}

func (p *paPeer) pingPong(ctx context.Context, n int) ([]float64, error) {
	return pingPongOn(ctx, p.d.sys, p.echo, p.small, n)
}
