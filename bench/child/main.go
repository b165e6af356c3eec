// Command child is what the benchmark harness starts as a Spindle child
// context and as the floor's processes. It links Spindle but not the gRPC
// stack the harness needs for its protoactor peer, so its start-up time is
// that of a Spindle program. The harness builds it at the start of a run;
// it is not meant to be run by hand.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/bench/internal/workload"
	"github.com/spindle-go/spindle/spawn"
)

func main() {
	spawn.Main(setup) // a Spindle child context never returns from here
	if code, ok := workload.RunRole(os.Getenv(workload.RoleEnv)); ok {
		os.Exit(code)
	}
	fmt.Fprintln(os.Stderr, "child: started by the bench harness only (cd bench && go run .)")
	os.Exit(2)
}

// setup is the workload's, plus the CPU profile the harness's -profile
// pass asks for (workload.ProfileEnv), written when the context stops.
func setup(n *actors.Node) error {
	if path := os.Getenv(workload.ProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		n.OnShutdown(func(context.Context) error {
			pprof.StopCPUProfile()
			return f.Close()
		})
	}
	return workload.Setup(n)
}
