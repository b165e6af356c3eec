// This file adds the container systems of issue 12 to the harness:
// floor_docker (the docker CLI's own cost), spindle_docker (spawn/docker)
// and mitogen_docker (Mitogen's docker method), all in the same container.

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
)

// dockerBox is the container every docker system runs in: the busybox-only
// image of internal/containertest (built FROM scratch, nothing pulled),
// with this machine's /usr and /lib mounted read-only so that Mitogen finds
// /usr/bin/python3 and its package there. Spindle's contexts run
// bench/child from the same mounts' libc (it is dynamically linked like
// the local column's, so the two columns run the same binary).
type dockerBox struct {
	e *containertest.Engine
	c *containertest.Container
}

// hostMounts are bind-mounted read-only into the container when they exist.
var hostMounts = []string{"/usr", "/lib", "/lib64"}

func startDockerBox(ctx context.Context) (*dockerBox, error) {
	e, err := containertest.Find("docker")
	if err != nil {
		return nil, skipf("no usable Docker engine (%v)", err)
	}
	img, err := e.ImportBusybox()
	if err != nil {
		return nil, skipf("cannot build the busybox image: %v", err)
	}
	var args []string
	for _, m := range hostMounts {
		if _, err := os.Stat(m); err == nil {
			args = append(args, "-v", m+":"+m+":ro")
		}
	}
	c, err := e.Start(ctx, img, containertest.RunOptions{Name: containertest.RandomName("spindle-bench-"), Args: args})
	if err != nil {
		return nil, err
	}
	return &dockerBox{e: e, c: c}, nil
}

func (e *env) dockerBox(ctx context.Context) (*dockerBox, error) {
	if e.noDocker {
		return nil, skipf("docker systems turned off (-docker=false)")
	}
	e.dockerOnce.Do(func() { e.docker, e.dockerErr = startDockerBox(ctx) })
	return e.docker, e.dockerErr
}

// dockerWorkloads: spawn (warm) and round trip, as for SSH.
var dockerWorkloads = Workloads{Spawn: true, RTT: true}

func makeFloorDocker(ctx context.Context, e *env, _ *system) (contender, error) {
	box, err := e.dockerBox(ctx)
	if err != nil {
		return nil, err
	}
	return &goContender{d: &dockerFloor{box: box}}, nil
}

func makeSpindleDocker(ctx context.Context, e *env, _ *system) (contender, error) {
	box, err := e.dockerBox(ctx)
	if err != nil {
		return nil, err
	}
	node, err := e.spindleRoot()
	if err != nil {
		return nil, err
	}
	return &goContender{d: &spindleDriver{node: node, launch: dockerLauncher(node, e.child, box)}}, nil
}

func makeMitogenDocker(ctx context.Context, e *env, _ *system) (contender, error) {
	v, err := probeMitogen(ctx, e.python)
	if err != nil {
		return nil, err
	}
	e.setVersion("mitogen", v)
	box, err := e.dockerBox(ctx)
	if err != nil {
		return nil, err
	}
	return startMitogen(e.python, mitogenTarget{Via: "docker", Container: box.c.Name})
}

// dockerLauncher starts Spindle contexts with `docker exec -i` into the
// box. The spawn warm-up uploads exe, so every measured spawn is warm.
func dockerLauncher(node *actors.Node, exe string, box *dockerBox) func(context.Context, string) (spawn.Child, error) {
	var (
		once sync.Once
		bin  *spawn.Binary
	)
	return func(ctx context.Context, name string) (spawn.Child, error) {
		once.Do(func() { bin = spawn.NewBinary(exe, "") })
		return docker.Start(ctx, node, docker.Options{
			Common:        spawn.Common{Name: name, Grace: time.Second},
			Bootstrap:     spawn.Bootstrap{Binaries: []*spawn.Binary{bin}},
			TargetOptions: docker.TargetOptions{CLI: box.e.Path, Container: box.c.Name},
		})
	}
}

// dockerFloor is what the docker CLI costs with no framework: spawn is
// `docker exec -i C true` to its exit, the round trip 64 bytes through
// `docker exec -i C cat` and back.
type dockerFloor struct{ box *dockerBox }

type doneStopper struct{}

func (doneStopper) stop() error { return nil }

func (d *dockerFloor) start(ctx context.Context) (stopper, error) {
	out, err := exec.CommandContext(ctx, d.box.e.Path, "exec", "-i", d.box.c.Name, "true").CombinedOutput()
	if err != nil {
		return nil, errors.Join(err, errors.New(string(out)))
	}
	return doneStopper{}, nil
}

func (d *dockerFloor) open(ctx context.Context) (session, error) {
	cmd := exec.Command(d.box.e.Path, "exec", "-i", d.box.c.Name, "cat")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &catSession{cmd: cmd, in: in, out: out}, nil
}

type catSession struct {
	cmd       *exec.Cmd
	in        io.WriteCloser
	out       io.Reader
	msg, back [floorMsg]byte
}

func (s *catSession) roundTrip(context.Context) error {
	if _, err := s.in.Write(s.msg[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(s.out, s.back[:])
	return err
}

func (s *catSession) oneWay(context.Context, int) error { return errors.ErrUnsupported }
func (s *catSession) bulk(context.Context) error        { return errors.ErrUnsupported }

func (s *catSession) stop() error {
	_ = s.in.Close()
	return s.cmd.Wait()
}
