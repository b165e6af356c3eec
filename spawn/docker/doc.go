// Package docker starts Spindle contexts in containers through the docker
// or podman CLI: `docker exec -i` into a running container, or `docker run
// -i --rm` of a local image. Going through the CLI (rather than the
// engine's API) means DOCKER_HOST, docker contexts, podman connections and
// the CLIs' own configuration work as their users expect.
//
// # Usage
//
//	p, err := docker.Start(ctx, node, docker.Options{
//		Bootstrap:     spawn.Bootstrap{Binaries: []*spawn.Binary{static}}, // a CGO_ENABLED=0 build
//		TargetOptions: docker.TargetOptions{Container: "web-1", User: "app"},
//	})
//	pid, err := p.Spawn(ctx, "worker", "w") // p is a *spawn.Process
//
// With Image instead of Container, each start runs a fresh container
// (`docker run -i --rm --pull never`) that ends with the context.
// NewTarget gives the runner.Target alone, for wrapping methods:
//
//	tg, err := docker.NewTarget(docker.TargetOptions{Container: "web-1"})
//	st, err := sudo.Sudo(tg, sudo.Options{User: "postgres"})
//
// The caller's duties: run a statically linked binary in containers
// without the program's libc (see Start), and Shutdown the context (or
// the node) before exiting.
//
// Podman is the same package with TargetOptions.CLI = "podman": the flag
// dialect follows the CLI's base name (--connection and --url instead of
// --context and -H).
//
// # Signals and Kill
//
// A process started by `docker exec` is not the container's pid 1, so
// `docker kill` cannot reach it, and killing the CLI does not end it. Each
// command carries a random SPINDLE_RUNNER token in its environment (which
// its descendants inherit); Signal runs kill(1) in the container, through
// `docker exec`, on every process carrying it. A fresh container's command
// is its pid 1, signalled with `docker kill -s`. Kill sends SIGKILL that
// way (removing a fresh container too), waits for the CLI to exit, and
// kills the CLI only if it does not. The container therefore needs sh,
// tr, grep and kill for Signal in exec mode (busybox has them).
//
// # Errors
//
// A failed start is explained by asking the engine afterwards (never on
// the way to a working context): ErrNoSuchContainer,
// ErrContainerNotRunning, ErrImageNotFound, ErrEngineUnavailable, each as
// an *Error that also wraps the bootstrap's error. ErrCLINotFound comes
// from NewTarget. A command's non-zero exit is an *ExitError carrying the
// status the CLI passed on (137 after SIGKILL).
//
// Every type here is safe for concurrent use.
package docker
