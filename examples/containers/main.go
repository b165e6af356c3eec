// Command containers runs four contexts under one supervisor: three in
// containers of a local image (a `docker exec` into a container it starts,
// and two fresh `docker run -i --rm` containers) and one on this machine
// under sudo as another user. Each says who it is: uid, hostname and
// cgroup. Then one container is killed with `docker kill`; the supervisor
// sees IS_DEAD and restarts that context in a new container.
//
//	CGO_ENABLED=0 go build -o /tmp/containers ./examples/containers
//	sudo /tmp/containers -image alpine:3 -sudo-user nobody
//
// The image must be local (nothing is pulled) and have /bin/sh; the
// program ships its own binary into the containers, which must then be
// statically linked (CGO_ENABLED=0) unless the image has the same libc,
// or -binary names a static build. -sudo-user "" leaves the sudo context
// out; without a password prompt (root, or NOPASSWD) none is asked for.
package main

import (
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
	"github.com/spindle-go/spindle/spawn/sudo"
	"github.com/spindle-go/spindle/supervision"
)

// WhoAreYou asks a context's "whoami" actor about itself; Me answers.
type (
	WhoAreYou struct{}
	Me        struct {
		Context  string
		UID, Pid int
		Hostname string
		Cgroup   string
	}
)

func setup(n *actors.Node) error {
	if err := actors.RegisterType[WhoAreYou](n, "containers.WhoAreYou"); err != nil {
		return err
	}
	if err := actors.RegisterType[Me](n, "containers.Me"); err != nil {
		return err
	}
	n.RegisterKind("whoami", actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*WhoAreYou); ok {
			host, _ := os.Hostname()
			cg, _ := os.ReadFile("/proc/self/cgroup")
			line, _, _ := strings.Cut(string(cg), "\n")
			c.Respond(&Me{Context: n.Name(), UID: os.Getuid(), Pid: os.Getpid(), Hostname: host, Cgroup: line})
		}
	}))
	return nil
}

func main() {
	spawn.Main(setup) // in a context: serve it, never return
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "containers:", err)
		os.Exit(1)
	}
}

type config struct {
	image, binary, cli, sudoUser string
}

func parse(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("containers", flag.ContinueOnError)
	fs.StringVar(&c.image, "image", "", "a local image with /bin/sh (required; never pulled)")
	fs.StringVar(&c.binary, "binary", "", "a static build of this program to ship into the containers (default: this program)")
	fs.StringVar(&c.cli, "cli", "docker", "the container CLI: docker or podman")
	fs.StringVar(&c.sudoUser, "sudo-user", "nobody", `the user of the sudo context; "" for none`)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.image == "" {
		return c, errors.New("-image is required: a local image with /bin/sh")
	}
	if c.binary == "" {
		self, err := os.Executable()
		if err != nil {
			return c, err
		}
		if !static(self) {
			return c, errors.New("this program is dynamically linked and would not run in a container without its libc: build it with CGO_ENABLED=0, or pass -binary")
		}
		c.binary = self
	}
	return c, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	node, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer node.Shutdown(context.Background())
	box, err := startContainer(ctx, cfg)
	if err != nil {
		return err
	}
	defer removeContainer(cfg, box)
	fmt.Fprintf(out, "started container %s (%s, sleep as pid 1) for docker exec\n", box, cfg.image)

	events := make(chan any, 16)
	sub := node.System().EventStream.Subscribe(func(ev any) {
		switch ev.(type) {
		case *supervision.ChildFailed, *supervision.ChildRestarted:
			events <- ev
		}
	})
	defer node.System().EventStream.Unsubscribe(sub)
	sup, err := supervision.Start(ctx, node, supervision.Config{
		Name:     "fleet",
		Children: specs(cfg, box),
		Policy:   supervision.Policy{Strategy: supervision.OneForOne, MaxRestarts: 3, Period: time.Minute},
	})
	if err != nil {
		return err
	}
	if err := waitUp(ctx, sup); err != nil {
		return err
	}
	if err := rollCall(ctx, out, node, sup); err != nil {
		return err
	}
	if err := killOne(ctx, out, cfg, sup, events); err != nil {
		return err
	}
	if err := rollCall(ctx, out, node, sup); err != nil {
		return err
	}
	if err := sup.Stop(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "supervisor stopped, every context shut down")
	return nil
}

// specs are the four supervised contexts.
func specs(cfg config, box string) []supervision.ContextSpec {
	bin := spawn.NewBinary(cfg.binary, "linux/amd64")
	inContainer := func(to docker.TargetOptions) supervision.StartFunc {
		return func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
			to.CLI = cfg.cli
			if to.Image != "" && cfg.cli == "podman" {
				to.RunArgs = podmanLimits
			}
			return docker.Start(ctx, n, docker.Options{
				Common:        spawn.Common{Name: name},
				Bootstrap:     spawn.Bootstrap{Binaries: []*spawn.Binary{bin}},
				TargetOptions: to,
			})
		}
	}
	actorsIn := []supervision.ActorSpec{{Kind: "whoami", Name: "whoami"}}
	out := []supervision.ContextSpec{
		{Name: "exec-box", Start: inContainer(docker.TargetOptions{Container: box}), Actors: actorsIn},
		{Name: "fresh-1", Start: inContainer(docker.TargetOptions{Image: cfg.image}), Actors: actorsIn},
		{Name: "fresh-2", Start: inContainer(docker.TargetOptions{Image: cfg.image, User: "1000"}), Actors: actorsIn},
	}
	if cfg.sudoUser != "" {
		out = append(out, supervision.ContextSpec{Name: "sudo-" + cfg.sudoUser, Actors: actorsIn,
			Start: func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
				t, err := sudo.Sudo(&sudo.Host{}, sudo.Options{User: cfg.sudoUser})
				if err != nil {
					return nil, err
				}
				return spawn.Start(ctx, n, t, spawn.Common{Name: name}, spawn.Bootstrap{})
			}})
	}
	return out
}

// podmanLimits keep podman's default rlimits within what sandboxes allow.
var podmanLimits = []string{"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"}

func rollCall(ctx context.Context, out io.Writer, node *actors.Node, sup *supervision.Supervisor) error {
	fmt.Fprintf(out, "%-12s %-4s %-6s %-8s %-14s %s\n", "context", "ctx", "uid", "pid", "hostname", "cgroup")
	for _, ci := range sup.Children() {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		me, err := actors.Request[*Me](rctx, node, ci.PIDs["whoami"], &WhoAreYou{})
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", ci.Name, err)
		}
		fmt.Fprintf(out, "%-12s %-4d %-6d %-8d %-14s %s\n", me.Context, ci.ID, me.UID, me.Pid, me.Hostname, me.Cgroup)
	}
	return nil
}

// killOne kills the container of fresh-1 and waits for the supervisor to
// restart it.
func killOne(ctx context.Context, out io.Writer, cfg config, sup *supervision.Supervisor, events <-chan any) error {
	ci, _ := sup.Child("fresh-1")
	p, ok := ci.Context.(*spawn.Process)
	if !ok {
		return fmt.Errorf("fresh-1 is a %T", ci.Context)
	}
	container := p.Info().Host
	fmt.Fprintf(out, "%s kill %s (the container of fresh-1, ctx %d)\n", cfg.cli, container, ci.ID)
	if b, err := exec.CommandContext(ctx, cfg.cli, "kill", container).CombinedOutput(); err != nil {
		return fmt.Errorf("%s kill: %v: %s", cfg.cli, err, b)
	}
	for {
		select {
		case ev := <-events:
			switch e := ev.(type) {
			case *supervision.ChildFailed:
				fmt.Fprintf(out, "supervisor: %s (ctx %d) failed: %s\n", e.Child, e.ID, e.Reason)
			case *supervision.ChildRestarted:
				fmt.Fprintf(out, "supervisor: %s restarted as ctx %d (was ctx %d)\n", e.Child, e.ID, e.OldID)
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("fresh-1 not restarted: %w", ctx.Err())
		}
	}
}

func waitUp(ctx context.Context, sup *supervision.Supervisor) error {
	return sup.WaitUp(ctx)
}

func startContainer(ctx context.Context, cfg config) (string, error) {
	name := fmt.Sprintf("spindle-example-%d", os.Getpid())
	args := []string{"run", "-d", "--rm", "--name", name, "--hostname", "exec-box"}
	if cfg.cli == "podman" {
		args = append(args, podmanLimits...)
	}
	args = append(args, cfg.image, "sleep", "1000000")
	if b, err := exec.CommandContext(ctx, cfg.cli, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s run: %v: %s", cfg.cli, err, b)
	}
	return name, nil
}

func removeContainer(cfg config, name string) {
	_ = exec.Command(cfg.cli, "rm", "-f", name).Run()
}

// static reports whether the ELF file at path needs no dynamic loader.
func static(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
