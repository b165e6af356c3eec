package docker_test

import (
	"bufio"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn/docker"
)

// TestStart_ParentKilledLeavesNothing kills (SIGKILL) a root that has a
// context in a running container and one in a fresh container: the CLI
// processes die with it (Pdeathsig), the contexts read EOF and exit, the
// fresh container is removed, and the running one keeps running.
func TestStart_ParentKilledLeavesNothing(t *testing.T) {
	e := containertest.Docker(t)
	img := e.BusyboxImage(t)
	c := e.Run(t, img, containertest.RunOptions{})
	fresh := containertest.RandomName("spindle-orphan-")
	t.Cleanup(func() { e.Container(fresh).Remove() })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"=parent", "SPINDLE_TEST_BINARY="+containertest.StaticTestBinary(t),
		"SPINDLE_TEST_CLI="+e.Path, "SPINDLE_TEST_CONTAINER="+c.Name, "SPINDLE_TEST_IMAGE="+img, "SPINDLE_TEST_FRESH="+fresh)
	cmd.Stderr = testWriter{t}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "UP\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("parent said %q, %v", line, err)
	}
	if e.Container(fresh).State() != "running" || len(containertest.CLIProcesses(c.Name)) != 1 {
		t.Fatalf("before the kill: fresh container %q, CLI processes %v", e.Container(fresh).State(), containertest.CLIProcesses(c.Name))
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	waitFor(t, 10*time.Second, "the end of the CLI processes", func() bool {
		return len(containertest.CLIProcesses(c.Name)) == 0 && len(containertest.CLIProcesses(fresh)) == 0
	})
	waitFor(t, 15*time.Second, "removal of the fresh container", func() bool { return e.Container(fresh).State() == "" })
	waitFor(t, 10*time.Second, "the exit of the context in "+c.Name, func() bool {
		return c.Exec(t, "sh", "-c", "grep -l SPINDLE_CHILD=1 /proc/[0-9]*/environ 2>/dev/null || true") == ""
	})
	if st := c.State(); st != "running" {
		t.Errorf("the user's container is %q, want running", st)
	}
}

// TestStart_PausedIsDeadByHeartbeat: `docker pause` freezes the context
// without closing anything; the link's heartbeat declares it dead, a
// pending request fails with ErrHeartbeatTimeout, and once the container
// is unpaused nothing of the context is left.
func TestStart_PausedIsDeadByHeartbeat(t *testing.T) {
	e := containertest.Docker(t)
	c := e.Run(t, e.BusyboxImage(t), containertest.RunOptions{})
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Shutdown(ctxFor(t, 30*time.Second)) })
	p := start(t, root, opts(t, e, "paused", docker.TargetOptions{Container: c.Name}))
	pid := echoIn(t, p)
	ctx := ctxFor(t, 60*time.Second)
	if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
	e.Command(t, "pause", c.Name)
	t.Cleanup(func() { _ = exec.Command(e.Path, "unpause", c.Name).Run() })
	begin := time.Now()
	_, err = actors.Request[*Pong](ctx, root, pid, &Ping{})
	if !errors.Is(err, actors.ErrContextDead) || !errors.Is(err, actors.ErrHeartbeatTimeout) {
		t.Fatalf("request to a paused context: %v, want ErrContextDead and ErrHeartbeatTimeout", err)
	}
	t.Logf("declared dead %v after the pause: %v", time.Since(begin).Round(time.Millisecond), err)
	select {
	case <-p.Dead():
	case <-time.After(5 * time.Second):
		t.Fatal("Dead not closed")
	}
	e.Command(t, "unpause", c.Name)
	waitFor(t, 15*time.Second, "the end of the CLI and of the context", func() bool {
		return len(containertest.CLIProcesses(c.Name)) == 0 &&
			!strings.Contains(c.Exec(t, "sh", "-c", "grep -l SPINDLE_CHILD=1 /proc/[0-9]*/environ 2>/dev/null || true"), "environ")
	})
}
