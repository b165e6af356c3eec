package docker

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// TargetOptions says where and how commands run: in a running container
// (Container) or in a fresh container from a local image (Image), through
// a container CLI. Exactly one of Container and Image is set. Zero values
// mean the documented defaults.
type TargetOptions struct {
	// CLI is the container CLI: "docker" (default), "podman", or a path
	// to either. Its base name picks the flag dialect; commands run with
	// this process's environment, so DOCKER_HOST, DOCKER_CONTEXT,
	// CONTAINER_HOST and the CLIs' configuration files apply.
	CLI string
	// Context is the docker context (docker --context) or the podman
	// connection (podman --connection) to use.
	Context string
	// Host is the engine's address (docker -H, podman --url), for example
	// "unix:///var/run/docker.sock" or "ssh://user@host". Not with Context.
	Host string

	// Container is the name or ID of a running container to exec into
	// (`docker exec -i`).
	Container string
	// Image is a local image to start a fresh container from
	// (`docker run -i --rm --pull never`): it is never pulled. The
	// container lives as long as the command, and is removed after it.
	Image string
	// ContainerName is the fresh container's name (docker run --name).
	// Default "spindle-" + 12 random hex digits. Only with Image.
	ContainerName string
	// RunArgs are more `docker run` options, placed before the image
	// ("--network", "none", "--read-only", "-v", "/src:/src"). Only with
	// Image.
	RunArgs []string
	// Init runs an init process as the fresh container's pid 1 (docker
	// run --init; podman needs catatonit for it), so that the context is
	// not pid 1: `docker stop`'s SIGTERM then ends it as a signal (exit
	// status 143) and orphans in the container are reaped. Without it the
	// context is pid 1, which the kernel shields from SIGTERM's default
	// action, and `docker stop` ends it with exit status 2 (the Go
	// runtime's fallback). Only with Image.
	Init bool

	// User runs the command as this user ("1000", "app", "1000:1000");
	// default the container's (docker exec -u / run -u).
	User string
	// Workdir is the command's working directory (docker exec -w / run
	// -w); default the container's. A Command's Dir wins.
	Workdir string
	// ContainerEnv is added to every command's environment in the
	// container (docker exec -e / run -e), before a Command's own Env.
	// (A context's own variables go in spawn.Common.Env.)
	ContainerEnv []string
}

// flavor is the CLI's flag dialect.
type flavor int

const (
	flavorDocker flavor = iota
	flavorPodman
)

func (o *TargetOptions) flavor() flavor {
	base := filepath.Base(o.cli())
	if strings.HasPrefix(base, "podman") {
		return flavorPodman
	}
	return flavorDocker
}

func (o *TargetOptions) cli() string {
	if o.CLI == "" {
		return "docker"
	}
	return o.CLI
}

// validate checks the options; it does not look for the CLI.
func (o *TargetOptions) validate() error {
	switch {
	case o.Container == "" && o.Image == "":
		return errors.New("docker: TargetOptions needs a Container or an Image")
	case o.Container != "" && o.Image != "":
		return errors.New("docker: TargetOptions.Container and Image are exclusive")
	case o.Context != "" && o.Host != "":
		return errors.New("docker: TargetOptions.Context and Host are exclusive")
	case o.Container != "" && (o.ContainerName != "" || len(o.RunArgs) > 0 || o.Init):
		return errors.New("docker: TargetOptions.ContainerName, RunArgs and Init need an Image")
	case strings.HasPrefix(o.Container, "-") || strings.HasPrefix(o.Image, "-") || strings.HasPrefix(o.ContainerName, "-"):
		return errors.New("docker: a container, image or name cannot start with '-'")
	}
	for _, kv := range o.ContainerEnv {
		if err := checkEnv(kv); err != nil {
			return err
		}
	}
	return nil
}

func checkEnv(kv string) error {
	k, _, ok := strings.Cut(kv, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t\n\x00") || strings.ContainsAny(kv, "\x00") {
		return fmt.Errorf("docker: environment entry %q is not NAME=value", kv)
	}
	return nil
}
