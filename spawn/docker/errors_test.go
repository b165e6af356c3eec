package docker_test

import (
	"cmp"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
)

// TestStart_Failures: each way a start fails is a typed error, returned
// within the deadline, and leaves no CLI process or fresh container.
func TestStart_Failures(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := eng.get(t)
			img := e.BusyboxImage(t)
			noShell := e.Run(t, e.NoShellImage(t), containertest.RunOptions{})
			stopped := e.Run(t, img, containertest.RunOptions{})
			e.Command(t, "kill", stopped.Name)
			// Every directory the bootstrap may use is read-only or noexec
			// (the engine's /dev/shm is noexec already).
			noExec := e.Run(t, img, containertest.RunOptions{Args: []string{"--read-only", "--tmpfs", "/tmp:rw,noexec", "--tmpfs", "/var/tmp:rw,noexec"}})
			root := newRoot(t, nil)
			for _, tc := range []struct {
				name string
				to   docker.TargetOptions
				want []error
			}{
				{"no-such-container", docker.TargetOptions{Container: containertest.RandomName("spindle-missing-")}, []error{docker.ErrNoSuchContainer, spawn.ErrBootstrap}},
				{"not-running", docker.TargetOptions{Container: stopped.Name}, []error{docker.ErrContainerNotRunning}},
				{"container-without-sh", docker.TargetOptions{Container: noShell.Name}, []error{spawn.ErrNoShell}},
				{"image-without-sh", docker.TargetOptions{Image: e.NoShellImage(t)}, []error{spawn.ErrNoShell}},
				{"image-not-found", docker.TargetOptions{Image: "spindle-test/missing:1"}, []error{docker.ErrImageNotFound}},
				{"noexec-everywhere", docker.TargetOptions{Container: noExec.Name}, []error{spawn.ErrNoExecDir}},
				{"engine-unavailable", docker.TargetOptions{Container: noExec.Name, Host: "unix:///nonexistent/spindle.sock"}, []error{docker.ErrEngineUnavailable}},
				{"cli-missing", docker.TargetOptions{Container: noExec.Name, CLI: "/nonexistent/" + eng.name}, []error{docker.ErrCLINotFound}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					o := opts(t, e, tc.name, tc.to)
					if tc.to.CLI != "" {
						o.CLI = tc.to.CLI
					}
					if o.Image != "" {
						o.ContainerName = containertest.RandomName("spindle-fail-")
					}
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					begin := time.Now()
					p, err := docker.Start(ctx, root, o)
					if err == nil {
						_ = p.Shutdown(ctx)
						t.Fatal("Start succeeded")
					}
					for _, w := range tc.want {
						if !errors.Is(err, w) {
							t.Errorf("error %v\ndoes not match %v", err, w)
						}
					}
					t.Logf("after %v: %v", time.Since(begin).Round(time.Millisecond), err)
					host := cmp.Or(o.Container, o.ContainerName)
					if pids := containertest.CLIProcesses(host); len(pids) > 0 {
						t.Errorf("CLI processes left: %v", pids)
					}
					if o.Image != "" && e.Container(o.ContainerName).State() != "" {
						t.Errorf("fresh container %s left behind", o.ContainerName)
					}
				})
			}
			_, err := docker.Start(context.Background(), root, docker.Options{TargetOptions: docker.TargetOptions{CLI: "docker-spindle-missing", Container: "x"}})
			if !errors.Is(err, docker.ErrCLINotFound) || !errors.Is(err, exec.ErrNotFound) {
				t.Errorf("CLI not in PATH: %v, want ErrCLINotFound and exec.ErrNotFound", err)
			}
		})
	}
}

// TestStart_NoExecTmpFallsBack: with /tmp mounted noexec and the root
// filesystem read-only, the bootstrap moves on to /var/tmp.
func TestStart_NoExecTmpFallsBack(t *testing.T) {
	e := containertest.Docker(t)
	c := e.Run(t, e.BusyboxImage(t), containertest.RunOptions{Args: []string{"--read-only", "--tmpfs", "/tmp:rw,noexec", "--tmpfs", "/var/tmp:rw,exec"}})
	root := newRoot(t, nil)
	p := start(t, root, opts(t, e, "fallback", docker.TargetOptions{Container: c.Name}))
	if dir := p.Info().Boot.Dir; !strings.HasPrefix(dir, "/var/tmp/") {
		t.Errorf("binary runs from %q, want /var/tmp/...", dir)
	}
	pid := echoIn(t, p)
	if _, err := actors.Request[*Pong](ctxFor(t, 30*time.Second), root, pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
}

// TestStart_ContextAndHost reaches the engine through a docker context and
// through -H, and fails with ErrEngineUnavailable when DOCKER_HOST points
// nowhere (the CLI reads it from our environment).
func TestStart_ContextAndHost(t *testing.T) {
	e := containertest.Docker(t)
	c := e.Run(t, e.BusyboxImage(t), containertest.RunOptions{})
	sock := "unix:///var/run/docker.sock"
	name := containertest.RandomName("spindle-ctx-")
	e.Command(t, "context", "create", name, "--docker", "host="+sock)
	t.Cleanup(func() { _ = exec.Command(e.Path, "context", "rm", "-f", name).Run() })
	root := newRoot(t, nil)
	for _, to := range []docker.TargetOptions{
		{Container: c.Name, Context: name},
		{Container: c.Name, Host: sock},
	} {
		p := start(t, root, opts(t, e, "via", to))
		pid := echoIn(t, p)
		if _, err := actors.Request[*Pong](ctxFor(t, 30*time.Second), root, pid, &Ping{}); err != nil {
			t.Fatal(err)
		}
		if err := p.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/spindle.sock")
	_, err := docker.Start(ctxFor(t, 30*time.Second), root, opts(t, e, "bad-host", docker.TargetOptions{Container: c.Name}))
	if !errors.Is(err, docker.ErrEngineUnavailable) {
		t.Errorf("DOCKER_HOST pointing nowhere: %v, want ErrEngineUnavailable", err)
	}
}

// TestStart_PodmanURL reaches rootful podman through its API service
// (`podman system service`, started by the test) with podman --url.
func TestStart_PodmanURL(t *testing.T) {
	e := containertest.Podman(t)
	c := e.Run(t, e.BusyboxImage(t), containertest.RunOptions{})
	sock := "unix://" + t.TempDir() + "/podman.sock"
	svc := exec.Command(e.Path, "system", "service", "--time=0", sock)
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Process.Kill(); _ = svc.Wait() })
	root := newRoot(t, nil)
	o := opts(t, e, "via-url", docker.TargetOptions{Container: c.Name, Host: sock})
	var p interface{ Shutdown(context.Context) error }
	waitFor(t, 20*time.Second, "a context through "+sock, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pp, err := docker.Start(ctx, root, o)
		if err != nil {
			t.Logf("not yet: %v", err)
			return false
		}
		p = pp
		pid := echoIn(t, pp)
		if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
			t.Fatal(err)
		}
		return true
	})
	if err := p.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
}
