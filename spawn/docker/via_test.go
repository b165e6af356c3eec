package docker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
)

// TestVia_DockerThroughIntermediate: a local intermediate (the static
// test binary, so that its own binary runs in a container without libc)
// runs `docker exec` and the bootstrap; the root reaches the context in
// the container directly; a Binaries option cannot travel; killing the
// intermediate raises IS_DEAD at the root and leaves neither a CLI
// process nor a Spindle process in the container.
func TestVia_DockerThroughIntermediate(t *testing.T) {
	e := containertest.Docker(t)
	img := e.BusyboxImage(t)
	c := e.Run(t, img, containertest.RunOptions{Hostname: "via-box"})
	root := newRoot(t, nil)
	ctx := ctxFor(t, 3*time.Minute)
	bastion, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second},
		Executable: containertest.StaticTestBinary(t)})
	if err != nil {
		t.Fatal(err)
	}
	o := opts(t, e, "boxed", docker.TargetOptions{Container: c.Name})
	o.Via = bastion
	if _, err := docker.Start(ctx, root, o); !errors.Is(err, spawn.ErrViaOption) {
		t.Fatalf("Binaries through Via: %v, want ErrViaOption", err)
	}
	o.Binaries = nil // the bastion offers its own (static) binary
	p, err := docker.Start(ctx, root, o)
	if err != nil {
		t.Fatal(err)
	}
	pong, err := actors.Request[*Pong](ctx, root, echoIn(t, p), &Ping{N: 5})
	if err != nil || pong.N != 5 || pong.Hostname != "via-box" || pong.Pid != p.Info().Pid {
		t.Fatalf("pong %+v, %v; want from via-box", pong, err)
	}
	if info := p.Info(); info.Via != bastion.ID() || info.Method != "docker" {
		t.Fatalf("info %+v", info)
	}
	if err := bastion.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Dead():
	case <-ctx.Done():
		t.Fatal("the context in the container was not declared dead")
	}
	if !errors.Is(p.DeadReason(), actors.ErrContextDead) {
		t.Fatalf("dead reason %v", p.DeadReason())
	}
	nothingLeft(t, e, c, o.TargetOptions, p.Info().Host)
}
