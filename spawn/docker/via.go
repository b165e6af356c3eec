package docker

import (
	"context"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
)

// viaOptions are the Options that travel to the intermediate (plain data).
type viaOptions struct {
	Common    spawn.Common // Common.Via does not travel
	CacheDirs []string
	Cache     spawn.CachePolicy
	Shell     string
	Timeout   time.Duration
	Target    TargetOptions
}

func init() {
	for _, e := range []struct {
		name string
		err  error
	}{
		{"spindle.docker.ErrNoSuchContainer", ErrNoSuchContainer}, {"spindle.docker.ErrContainerNotRunning", ErrContainerNotRunning},
		{"spindle.docker.ErrImageNotFound", ErrImageNotFound}, {"spindle.docker.ErrEngineUnavailable", ErrEngineUnavailable},
		{"spindle.docker.ErrCLINotFound", ErrCLINotFound},
	} {
		spawn.RegisterViaError(e.name, e.err)
	}
	spawn.RegisterViaMethod("docker", func(ctx context.Context, node *actors.Node, o *viaOptions) (spawn.Child, error) {
		return Start(ctx, node, Options{Common: o.Common,
			Bootstrap:     spawn.Bootstrap{CacheDirs: o.CacheDirs, Cache: o.Cache, Shell: o.Shell, Timeout: o.Timeout},
			TargetOptions: o.Target})
	})
}

func startVia(ctx context.Context, node *actors.Node, o Options) (*spawn.Process, error) {
	return spawn.StartViaBootstrap(ctx, node, o.Via, "docker", &viaOptions{Common: o.Common,
		CacheDirs: o.CacheDirs, Cache: o.Cache, Shell: o.Shell, Timeout: o.Timeout, Target: o.TargetOptions}, o.Bootstrap)
}

// DescribeVia describes the target as data for a start through Via
// (spawn.Start with Common.Via, or as the inner target of sudo there): its
// TargetOptions, with the CLI looked up on the intermediate's host.
func (t *Target) DescribeVia(*spawn.ViaPrompts) (spawn.TargetSpec, error) {
	return spawn.NewTargetSpec("docker", &t.opts)
}

var _ spawn.ViaTarget = (*Target)(nil)

func init() {
	spawn.RegisterViaTarget("docker", func(_ context.Context, o *TargetOptions) (runner.Target, error) {
		return NewTarget(*o)
	})
}

// Step is the step of a container context with opts in a spawn.Chain:
// through the chain's previous hop when there is one (its CLI and
// engine), else as opts.Via says.
func Step(opts Options) spawn.Step {
	return func(ctx context.Context, node *actors.Node, via spawn.Hop) (spawn.Child, error) {
		if via != nil {
			opts.Via = via
		}
		return Start(ctx, node, opts)
	}
}
