// Package workload holds what the benchmark harness and its child
// processes share: the Spindle message types and actor kinds of the
// workloads, and the floor's child roles. It links no gRPC, so the child
// binary built from bench/child starts as fast as a Spindle program does.
package workload

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
)

// ProfileEnv, in the environment of a context the harness starts (a
// Spindle child, the protoactor peer), names the file it writes its CPU
// profile to when it stops (the harness's -profile flag).
const ProfileEnv = "SPINDLE_BENCH_CPUPROFILE"

// BulkBytes is the payload of the bulk workload; a round trip moves it once
// in each direction.
const BulkBytes = 1 << 20

// Messages of the Spindle workloads.
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

// Setup registers the workload types and the "echo" and "counter" kinds.
// The harness's root node and every Spindle child context run it.
func Setup(n *actors.Node) error {
	for _, err := range []error{
		actors.RegisterType[Ping](n, "bench.Ping"),
		actors.RegisterType[Pong](n, "bench.Pong"),
		actors.RegisterType[Tick](n, "bench.Tick"),
		actors.RegisterType[HowMany](n, "bench.HowMany"),
		actors.RegisterType[Ticks](n, "bench.Ticks"),
		actors.RegisterType[GenPing](n, "bench.GenPing"),
		actors.RegisterType[GenPong](n, "bench.GenPong"),
		actors.RegisterType[GenTick](n, "bench.GenTick"),
		actors.RegisterType[GenHowMany](n, "bench.GenHowMany"),
		actors.RegisterType[GenTicks](n, "bench.GenTicks"),
	} {
		if err != nil {
			return err
		}
	}
	n.RegisterKind("echo", actor.PropsFromProducer(NewEcho))
	n.RegisterKind("counter", actor.PropsFromProducer(NewCounter))
	return nil
}

// NewEcho returns the actor of the "echo" kind: it answers a Ping with a
// Pong of the same number and payload (a GenPing with a GenPong).
func NewEcho() actor.Actor { return echoActor{} }

// NewCounter returns the actor of the "counter" kind: it counts Ticks and
// answers HowMany with the count since it was last asked (GenTick,
// GenHowMany and GenTicks alike).
func NewCounter() actor.Actor { return &counterActor{} }

type echoActor struct{}

func (echoActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *Ping:
		c.Respond(&Pong{N: m.N, Payload: m.Payload})
	case *GenPing:
		c.Respond(&GenPong{N: m.N, Payload: m.Payload})
	}
}

type counterActor struct{ n int }

func (k *counterActor) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *Tick, *GenTick:
		k.n++
	case *HowMany:
		c.Respond(&Ticks{N: k.n})
		k.n = 0
	case *GenHowMany:
		c.Respond(&GenTicks{N: k.n})
		k.n = 0
	}
}
