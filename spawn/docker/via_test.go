package docker_test

import (
	"errors"
	"fmt"
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
// the container directly; killing the
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

// TestVia_DockerBinaryFromRoot: the intermediate is the ordinary test
// binary (it needs libc: it cannot run in the busybox container); the
// static build is supplied at the root (Bootstrap.Binaries), fetched by
// the intermediate from the root by its SHA-256 once for two containers'
// starts, and runs there.
func TestVia_DockerBinaryFromRoot(t *testing.T) {
	e := containertest.Docker(t)
	img := e.BusyboxImage(t)
	root := newRoot(t, nil)
	ctx := ctxFor(t, 3*time.Minute)
	bastion, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second,
		Env: []string{spawn.BinaryCacheEnv + "=" + t.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	static := staticBinary(t)
	enc, err := static.Encoded("zstd") // the form between hops
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(enc))
	for i := range 2 {
		c := e.Run(t, img, containertest.RunOptions{Hostname: fmt.Sprintf("via-box-%d", i)})
		o := opts(t, e, fmt.Sprintf("boxed-%d", i), docker.TargetOptions{Container: c.Name})
		o.Via = bastion
		p, err := docker.Start(ctx, root, o)
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		pong, err := actors.Request[*Pong](ctx, root, echoIn(t, p), &Ping{N: 5})
		if err != nil || pong.Hostname != c.Name && pong.Hostname != fmt.Sprintf("via-box-%d", i) {
			t.Fatalf("pong %+v, %v", pong, err)
		}
		if b := p.Info().Boot; b.CacheHit || b.Uploaded == 0 {
			t.Fatalf("boot %+v, want an upload by the bastion", b)
		}
	}
	if st := spawn.BinaryStatsOf(root); st.Served != size {
		t.Fatalf("root served %+v for two starts, want the static binary once (%d bytes)", st, size)
	}
}
