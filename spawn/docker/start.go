package docker

import (
	"context"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// Options configures a context in a container: the options every method
// shares, the bootstrap's, and where the container is.
type Options struct {
	spawn.Common
	spawn.Bootstrap
	TargetOptions
}

// Start starts a child context in a container and joins it to node: it
// runs the bootstrap there (`docker exec -i` into opts.Container, or
// `docker run -i --rm` of opts.Image), which execs the cached binary for
// the container's platform or receives it first on the same stream, and
// returns once the Spindle handshake is done. The default name is
// "docker-" (or "podman-") followed by the container's name; a fresh
// container is called "spindle-" + 12 random hex digits unless
// opts.ContainerName says otherwise.
//
// Containers usually lack the libc a cgo or -race build links against:
// the binary that runs in them must be static (CGO_ENABLED=0), given in
// opts.Binaries when the running program is not; see docs/methods.md.
//
// On failure nothing is left running (no CLI process, no fresh container)
// and the error matches this package's sentinels (ErrNoSuchContainer,
// ErrContainerNotRunning, ErrImageNotFound, ErrEngineUnavailable,
// ErrCLINotFound) or spawn's (ErrNoShell for a container without
// /bin/sh, ErrNoExecDir when no cache directory allows exec,
// ErrBootstrapTimeout, ...).
//
// With Common.Via set, the context named there runs the CLI (the engine
// and the containers are those of its host) and becomes the child's
// parent (spawn.StartVia, docs/via.md); Bootstrap.Binaries are fetched
// by that context from its parent when a container needs one (a static
// build for a container without libc), and Bootstrap.Build cannot travel
// yet (spawn.ErrViaOption).
func Start(ctx context.Context, node *actors.Node, opts Options) (*spawn.Process, error) {
	if opts.Via != nil {
		return startVia(ctx, node, opts)
	}
	if opts.Image != "" && opts.ContainerName == "" {
		opts.ContainerName = "spindle-" + randomHex(6)
	}
	t, err := NewTarget(opts.TargetOptions)
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = t.method() + "-" + t.Info().Host
	}
	p, err := spawn.Start(ctx, node, t, opts.Common, opts.Bootstrap)
	if err != nil {
		return nil, t.diagnose(err, spawn.ErrNoShell, spawn.ErrNoExecDir, spawn.ErrDiskFull,
			spawn.ErrPlatformMismatch, spawn.ErrBootstrapTimeout, context.Canceled)
	}
	return p, nil
}
