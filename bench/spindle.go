package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// Messages and actor kinds of the Spindle workloads. Every context of the
// harness registers them through setup (the harness binary is its own
// child).
type (
	// Ping is the request of the round-trip and bulk workloads.
	Ping struct {
		N       int
		Payload []byte
	}
	// Pong answers a Ping with its number and payload.
	Pong struct {
		N       int
		Payload []byte
	}
	// Tick is the one-way message.
	Tick struct{}
	// HowMany asks the counter how many ticks it has seen since last asked.
	HowMany struct{}
	// Ticks answers HowMany.
	Ticks struct{ N int }
)

func setup(n *actors.Node) error {
	for _, err := range []error{
		actors.RegisterType[Ping](n, "bench.Ping"),
		actors.RegisterType[Pong](n, "bench.Pong"),
		actors.RegisterType[Tick](n, "bench.Tick"),
		actors.RegisterType[HowMany](n, "bench.HowMany"),
		actors.RegisterType[Ticks](n, "bench.Ticks"),
	} {
		if err != nil {
			return err
		}
	}
	n.RegisterKind("echo", actor.PropsFromProducer(func() actor.Actor { return echoActor{} }))
	n.RegisterKind("counter", actor.PropsFromProducer(func() actor.Actor { return &counterActor{} }))
	return nil
}

type echoActor struct{}

func (echoActor) Receive(c actor.Context) {
	if m, ok := c.Message().(*Ping); ok {
		c.Respond(&Pong{N: m.N, Payload: m.Payload})
	}
}

type counterActor struct{ n int }

func (k *counterActor) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *Tick:
		k.n++
	case *HowMany:
		c.Respond(&Ticks{N: k.n})
		k.n = 0
	}
}

// spindleDriver starts Spindle child contexts through launch: local
// children of the harness binary, or (once the library has them) SSH
// contexts.
type spindleDriver struct {
	node   *actors.Node
	launch func(ctx context.Context, name string) (spawn.Child, error)
	seq    atomic.Int64
}

// localLauncher starts local children over the given link kind.
func localLauncher(node *actors.Node, link spawn.LinkKind) func(context.Context, string) (spawn.Child, error) {
	return func(ctx context.Context, name string) (spawn.Child, error) {
		return spawn.Local(ctx, node, spawn.Options{Name: name, Link: link, Grace: time.Second})
	}
}

func newSpindleRoot() (*actors.Node, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return actors.NewNode(actors.Config{Name: "bench", Setup: setup, Logger: logger})
}

type spindleChild struct {
	c    spawn.Child
	node *actors.Node
	echo *actor.PID
	ctr  *actor.PID
	msg  Tick
}

func (d *spindleDriver) startChild(ctx context.Context, kinds ...string) (*spindleChild, error) {
	name := fmt.Sprintf("bench-%d", d.seq.Add(1))
	c, err := d.launch(ctx, name)
	if err != nil {
		return nil, err
	}
	ch := &spindleChild{c: c, node: d.node}
	for _, kind := range kinds {
		pid, err := c.Spawn(ctx, kind, kind)
		if err != nil {
			_ = ch.stop()
			return nil, err
		}
		if kind == "echo" {
			ch.echo = pid
		} else {
			ch.ctr = pid
		}
	}
	return ch, nil
}

// start measures what a user does to get a worker: start the context,
// spawn an actor in it, and have its first answer.
func (d *spindleDriver) start(ctx context.Context) (stopper, error) {
	ch, err := d.startChild(ctx, "echo")
	if err != nil {
		return nil, err
	}
	if err := ch.roundTrip(ctx); err != nil {
		_ = ch.stop()
		return nil, err
	}
	return ch, nil
}

func (d *spindleDriver) open(ctx context.Context) (session, error) {
	return d.startChild(ctx, "echo", "counter")
}

func (ch *spindleChild) roundTrip(ctx context.Context) error {
	_, err := actors.Request[*Pong](ctx, ch.node, ch.echo, &Ping{N: 1})
	return err
}

func (ch *spindleChild) bulk(ctx context.Context) error {
	pong, err := actors.Request[*Pong](ctx, ch.node, ch.echo, &Ping{Payload: bulkPayload})
	if err == nil && len(pong.Payload) != bulkBytes {
		err = fmt.Errorf("bulk reply carried %d bytes", len(pong.Payload))
	}
	return err
}

func (ch *spindleChild) oneWay(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		if err := ch.node.Send(ch.ctr, &ch.msg); err != nil {
			return err
		}
	}
	got, err := actors.Request[*Ticks](ctx, ch.node, ch.ctr, &HowMany{})
	if err == nil && got.N != n {
		err = fmt.Errorf("counter saw %d of %d messages", got.N, n)
	}
	return err
}

func (ch *spindleChild) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ch.c.Shutdown(ctx)
}

// bulkPayload is the 1 MiB every bulk workload of the Go systems carries
// (not zeros, though nothing on these paths compresses).
var bulkPayload = func() []byte {
	b := make([]byte, bulkBytes)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()
