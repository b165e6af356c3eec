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
	"github.com/spindle-go/spindle/bench/internal/workload"
	"github.com/spindle-go/spindle/spawn"
)

// spindleDriver starts Spindle child contexts through launch: local
// children running bench/child, or (once the library has them) SSH
// contexts.
type spindleDriver struct {
	node   *actors.Node
	launch func(ctx context.Context, name string) (spawn.Child, error)
	seq    atomic.Int64
}

// localLauncher starts local children of exe over the given link kind.
func localLauncher(node *actors.Node, exe string, link spawn.LinkKind) func(context.Context, string) (spawn.Child, error) {
	return func(ctx context.Context, name string) (spawn.Child, error) {
		return spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second}, Executable: exe, Link: link})
	}
}

func newSpindleRoot() (*actors.Node, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return actors.NewNode(actors.Config{Name: "bench", Setup: workload.Setup, Logger: logger})
}

type spindleChild struct {
	c    spawn.Child
	node *actors.Node
	echo *actor.PID
	ctr  *actor.PID
	msg  workload.Tick
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
	_, err := actors.Request[*workload.Pong](ctx, ch.node, ch.echo, &workload.Ping{N: 1})
	return err
}

func (ch *spindleChild) bulk(ctx context.Context) error {
	pong, err := actors.Request[*workload.Pong](ctx, ch.node, ch.echo, &workload.Ping{Payload: bulkPayload})
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
	got, err := actors.Request[*workload.Ticks](ctx, ch.node, ch.ctr, &workload.HowMany{})
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

func (ch *spindleChild) pingPong(ctx context.Context, n int) ([]float64, error) {
	return pingPongOn(ctx, ch.node.System(), ch.echo, &workload.Ping{N: 1}, n)
}
