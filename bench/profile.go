package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/spindle-go/spindle/bench/internal/workload"
)

// The -profile pass: after the measured rounds (so that profiling never
// perturbs a figure), each Go system runs its steady workloads once more
// with CPU profiling on, one system at a time: the harness's process
// writes DIR/<system>.pprof, and the context it talks to (a Spindle child,
// the protoactor peer) writes DIR/<system>.child.pprof when it stops.
// Read them with `go tool pprof -top DIR/spindle.child.pprof`.

// What the profile pass does with each system, in both plans: enough
// samples for a profile's top entries (about two seconds of CPU each).
const (
	profileExchanges = 10_000    // round trips, then as many ping-pongs
	profileMessages  = 1_000_000 // one-way messages
	profileBulk      = 40        // 1 MiB round trips
)

// profileSystems runs the profile pass over the chosen Go systems; only
// lists the workloads to run (-profile-workloads: "oneway" profiles the
// one-way stream alone), "" all of them.
func profileSystems(ctx context.Context, e *env, chosen []*system, dir, only string) error {
	work, err := profileWorkloads(only)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range chosen {
		if !s.work.RTT || !isGoSystem(s) {
			continue
		}
		if err := profileSystem(ctx, e, s, dir, work); err != nil {
			e.log(s.name, "profile: %v", err)
		}
	}
	return nil
}

func isGoSystem(s *system) bool {
	return !strings.HasPrefix(s.name, "mitogen") && !strings.HasSuffix(s.name, "_docker") && !strings.HasSuffix(s.name, "_ssh")
}

// profileWorkloads parses a -profile-workloads list.
func profileWorkloads(only string) (Workloads, error) {
	if only == "" {
		return steadyWorkloads, nil
	}
	var w Workloads
	for _, name := range strings.Split(only, ",") {
		switch strings.TrimSpace(name) {
		case "rtt":
			w.RTT = true
		case "pingpong":
			w.PingPong = true
		case "oneway":
			w.OneWay = true
		case "bulk":
			w.Bulk = true
		default:
			return w, fmt.Errorf("unknown workload %q in -profile-workloads (rtt, pingpong, oneway, bulk)", name)
		}
	}
	return w, nil
}

func profileSystem(ctx context.Context, e *env, s *system, dir string, work Workloads) error {
	c, err := s.make(ctx, e, s)
	if _, ok := isSkip(err); ok {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = c.close() }() // the context stops and writes its profile
	base := filepath.Join(dir, fileName(s.name))
	if err := os.Setenv(workload.ProfileEnv, base+".child.pprof"); err != nil {
		return err
	}
	err = c.open(ctx)
	_ = os.Unsetenv(workload.ProfileEnv)
	if err != nil {
		return err
	}
	f, err := os.Create(base + ".pprof")
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	n := profileExchanges
	if work.RTT {
		if _, err := c.rttRound(ctx, n); err != nil {
			return fmt.Errorf("round trips: %w", err)
		}
	}
	if s.work.PingPong && work.PingPong {
		if _, err := c.pingPongRound(ctx, n); err != nil {
			return fmt.Errorf("ping-pong: %w", err)
		}
	}
	if s.work.OneWay && work.OneWay {
		if _, err := c.oneWayRound(ctx, profileMessages); err != nil {
			return fmt.Errorf("one-way: %w", err)
		}
	}
	if s.work.Bulk && work.Bulk {
		if _, err := c.bulkRound(ctx, profileBulk); err != nil {
			return fmt.Errorf("1 MiB: %w", err)
		}
	}
	e.log(s.name, "profiles in %s.pprof and %s.child.pprof", base, base)
	return nil
}

// fileName turns a system's name into a file name: "floor (socketpair)"
// becomes "floor_socketpair".
func fileName(name string) string {
	return strings.NewReplacer(" (", "_", "(", "_", ")", "", " ", "_").Replace(name)
}
