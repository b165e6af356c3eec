package docker_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn/docker"
	"github.com/spindle-go/spindle/spawn/runner"
)

// engines are the CLIs every runner test runs against.
var engines = []struct {
	name string
	get  func(testing.TB) *containertest.Engine
}{
	{"docker", containertest.Docker},
	{"podman", containertest.Podman},
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startRunner starts argv through tg and registers a Kill at test end.
func startRunner(t *testing.T, tg *docker.Target, cmd runner.Command) runner.Runner {
	t.Helper()
	r, err := tg.Runner(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Kill(context.Background()); _ = r.Wait(context.Background()) })
	return r
}

// TestRunner_Streams runs a command that echoes its stdin, shows the
// options' effect (user, workdir, env) and exits with status 3, in a
// running container and in a fresh one.
func TestRunner_Streams(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := eng.get(t)
			img := e.BusyboxImage(t)
			c := e.Run(t, img, containertest.RunOptions{})
			for _, o := range []docker.TargetOptions{
				{CLI: e.Path, Container: c.Name, User: "1000", Workdir: "/tmp", ContainerEnv: []string{"GREETING=hello there"}},
				{CLI: e.Path, Image: img, User: "1000", Workdir: "/tmp", ContainerEnv: []string{"GREETING=hello there"}, RunArgs: e.RunDefaults()},
			} {
				tg, err := docker.NewTarget(o)
				if err != nil {
					t.Fatal(err)
				}
				r := startRunner(t, tg, runner.Command{
					Argv: []string{"sh", "-c", `read -r line; echo "got $line"; id -u; pwd; echo "$GREETING"; echo "$EXTRA"; echo oops >&2; exit 3`},
					Env:  []string{"EXTRA=x=y"},
				})
				go func() { _, _ = io.WriteString(r.Stdin(), "ping\n") }()
				out, _ := io.ReadAll(r.Stdout())
				errOut, _ := io.ReadAll(r.Stderr())
				if want := "got ping\n1000\n/tmp\nhello there\nx=y\n"; string(out) != want {
					t.Errorf("%s: stdout %q, want %q", r, out, want)
				}
				if !strings.Contains(string(errOut), "oops") {
					t.Errorf("stderr %q", errOut)
				}
				err = r.Wait(ctxFor(t, 20*time.Second))
				var ec runner.ExitCoder
				if !errors.As(err, &ec) || ec.ExitCode() != 3 {
					t.Errorf("%s: Wait = %v, want exit status 3", r, err)
				}
			}
		})
	}
}

// TestRunner_Signal delivers SIGTERM to a command that traps it, in a
// running container (kill in the container) and a fresh one (docker kill).
func TestRunner_Signal(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := eng.get(t)
			img := e.BusyboxImage(t)
			c := e.Run(t, img, containertest.RunOptions{})
			for _, o := range []docker.TargetOptions{
				{CLI: e.Path, Container: c.Name},
				{CLI: e.Path, Image: img, RunArgs: e.RunDefaults()},
			} {
				tg, _ := docker.NewTarget(o)
				r := startRunner(t, tg, runner.Command{Argv: []string{"sh", "-c", `trap 'echo term; exit 7' TERM; echo ready; while :; do sleep 0.1; done`}})
				lines := bufio.NewReader(r.Stdout())
				if l, err := lines.ReadString('\n'); l != "ready\n" {
					t.Fatalf("%s: first line %q, %v", r, l, err)
				}
				if err := r.Signal(ctxFor(t, 20*time.Second), runner.SIGTERM); err != nil {
					t.Fatalf("%s: Signal: %v", r, err)
				}
				if l, _ := lines.ReadString('\n'); l != "term\n" {
					t.Errorf("%s: after SIGTERM %q", r, l)
				}
				var ec runner.ExitCoder
				if err := r.Wait(ctxFor(t, 20*time.Second)); !errors.As(err, &ec) || ec.ExitCode() != 7 {
					t.Errorf("%s: Wait = %v, want exit status 7", r, err)
				}
				if err := r.Signal(ctxFor(t, 20*time.Second), runner.Signal("TERM;")); err == nil {
					t.Errorf("a bad signal name was accepted")
				}
			}
		})
	}
}

// TestRunner_Kill kills a command that ignores SIGTERM and has a child of
// its own: nothing of it stays in the container, no CLI process stays
// here, a fresh container is removed, Kill is safe to repeat.
func TestRunner_Kill(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := eng.get(t)
			img := e.BusyboxImage(t)
			c := e.Run(t, img, containertest.RunOptions{})
			for _, o := range []docker.TargetOptions{
				{CLI: e.Path, Container: c.Name},
				{CLI: e.Path, Image: img, RunArgs: e.RunDefaults()},
			} {
				tg, _ := docker.NewTarget(o)
				r := startRunner(t, tg, runner.Command{Argv: []string{"sh", "-c", `trap '' TERM; sleep 1000 & echo ready; wait`}})
				if l, err := bufio.NewReader(r.Stdout()).ReadString('\n'); l != "ready\n" {
					t.Fatalf("%s: first line %q, %v", r, l, err)
				}
				name := strings.Split(r.ID(), "/")[0]
				if err := r.Kill(ctxFor(t, 20*time.Second)); err != nil {
					t.Errorf("%s: Kill: %v", r, err)
				}
				var ec runner.ExitCoder
				if err := r.Wait(ctxFor(t, 5*time.Second)); !errors.As(err, &ec) || ec.ExitCode() != 137 {
					t.Errorf("%s: Wait = %v, want exit status 137", r, err)
				}
				if err := r.Kill(ctxFor(t, 20*time.Second)); err != nil {
					t.Errorf("%s: second Kill: %v", r, err)
				}
				if o.Container != "" {
					if ps := c.Exec(t, "sh", "-c", "grep -l "+docker.Token(r)+" /proc/[0-9]*/environ || true"); ps != "" {
						t.Errorf("processes left in the container: %s", ps)
					}
				} else if st := e.Container(name).State(); st != "" {
					t.Errorf("fresh container %s left in state %q", name, st)
				}
				if pids := containertest.CLIProcesses(name); len(pids) > 0 {
					t.Errorf("CLI processes left: %v", pids)
				}
			}
		})
	}
}
