package kube_test

import (
	"os"

	"github.com/asynkron/protoactor-go/actor"
)

func actorEcho() *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Ping); ok {
			c.Respond(&Pong{N: m.N, Pid: os.Getpid()})
		}
	})
}
