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
	msgs   messages
	seq    atomic.Int64
	// traced, when set, gives the ctx of every request and one-way send
	// (spindle_trace: the ctx carries a span; one-way sends go through
	// SendContext).
	traced func(context.Context) context.Context
}

// messages are the workload messages a spindle system sends: the
// reflective workload types, or their msgp-generated twins (spindle_gen).
type messages struct {
	ping    func(n int, payload []byte) any
	payload func(pong any) ([]byte, error) // a pong's payload
	tick    any
	howMany func() any
	ticks   func(answer any) (int, error) // the count in the answer to howMany
}

var reflectiveMessages = messages{
	ping:    func(n int, p []byte) any { return &workload.Ping{N: n, Payload: p} },
	payload: answerOf(func(p *workload.Pong) []byte { return p.Payload }),
	tick:    &workload.Tick{},
	howMany: func() any { return &workload.HowMany{} },
	ticks:   answerOf(func(t *workload.Ticks) int { return t.N }),
}

var generatedMessages = messages{
	ping:    func(n int, p []byte) any { return &workload.GenPing{N: n, Payload: p} },
	payload: answerOf(func(p *workload.GenPong) []byte { return p.Payload }),
	tick:    &workload.GenTick{},
	howMany: func() any { return &workload.GenHowMany{} },
	ticks:   answerOf(func(t *workload.GenTicks) int { return t.N }),
}

// answerOf reads a field of an answer of type T (an error for another).
func answerOf[T any, F any](field func(T) F) func(any) (F, error) {
	return func(a any) (F, error) {
		v, ok := a.(T)
		if !ok {
			var zero F
			return zero, fmt.Errorf("answer %T, want %T", a, v)
		}
		return field(v), nil
	}
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
	msgs messages
	// traced: see spindleDriver.traced.
	traced func(context.Context) context.Context
}

func (d *spindleDriver) startChild(ctx context.Context, kinds ...string) (*spindleChild, error) {
	name := fmt.Sprintf("bench-%d", d.seq.Add(1))
	c, err := d.launch(ctx, name)
	if err != nil {
		return nil, err
	}
	ch := &spindleChild{c: c, node: d.node, msgs: d.msgs, traced: d.traced}
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
	if ch.traced != nil {
		ctx = ch.traced(ctx)
	}
	_, err := actors.Request[any](ctx, ch.node, ch.echo, ch.msgs.ping(1, nil))
	return err
}

func (ch *spindleChild) bulk(ctx context.Context) error {
	pong, err := actors.Request[any](ctx, ch.node, ch.echo, ch.msgs.ping(0, bulkPayload))
	if err != nil {
		return err
	}
	p, err := ch.msgs.payload(pong)
	if err == nil && len(p) != bulkBytes {
		err = fmt.Errorf("bulk reply carried %d bytes", len(p))
	}
	return err
}

func (ch *spindleChild) oneWay(ctx context.Context, n int) error {
	if ch.traced != nil {
		ctx = ch.traced(ctx)
		for i := 0; i < n; i++ {
			if err := ch.node.SendContext(ctx, ch.ctr, ch.msgs.tick); err != nil {
				return err
			}
		}
		return ch.countTicks(ctx, n)
	}
	for i := 0; i < n; i++ {
		if err := ch.node.Send(ch.ctr, ch.msgs.tick); err != nil {
			return err
		}
	}
	return ch.countTicks(ctx, n)
}

// countTicks checks that the counter saw n ticks.
func (ch *spindleChild) countTicks(ctx context.Context, n int) error {
	answer, err := actors.Request[any](ctx, ch.node, ch.ctr, ch.msgs.howMany())
	if err != nil {
		return err
	}
	got, err := ch.msgs.ticks(answer)
	if err == nil && got != n {
		err = fmt.Errorf("counter saw %d of %d messages", got, n)
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
	return pingPongOn(ctx, ch.node.System(), ch.echo, ch.msgs.ping(1, nil), n)
}
