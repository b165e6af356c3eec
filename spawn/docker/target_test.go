package docker_test

import (
	"cmp"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spindle-go/spindle/spawn/docker"
	"github.com/spindle-go/spindle/spawn/runner"
)

func TestTarget_Argv(t *testing.T) {
	cmd := runner.Command{Argv: []string{"sh", "-c", "x"}, Env: []string{"B=2"}}
	for _, tc := range []struct {
		name string
		opts docker.TargetOptions
		cmd  runner.Command
		want string // argv with the token replaced by TOKEN
	}{
		{"exec", docker.TargetOptions{Container: "web-1"}, cmd,
			"exec -i -e SPINDLE_RUNNER=TOKEN -e B=2 web-1 sh -c x"},
		{"exec all options", docker.TargetOptions{Container: "web-1", User: "1000:1000", Workdir: "/w", ContainerEnv: []string{"A=1"}, Context: "prod"}, cmd,
			"--context prod exec -i -u 1000:1000 -w /w -e SPINDLE_RUNNER=TOKEN -e A=1 -e B=2 web-1 sh -c x"},
		{"command dir wins", docker.TargetOptions{Container: "c", Workdir: "/w", Host: "unix:///d.sock"}, runner.Command{Argv: []string{"id"}, Dir: "/d"},
			"-H unix:///d.sock exec -i -w /d -e SPINDLE_RUNNER=TOKEN c id"},
		{"run", docker.TargetOptions{Image: "img:1", ContainerName: "n1", RunArgs: []string{"--network", "none"}, User: "app"}, cmd,
			"run -i --rm --pull never --name n1 -u app -e SPINDLE_RUNNER=TOKEN -e B=2 --network none img:1 sh -c x"},
		{"run init", docker.TargetOptions{Image: "img:1", ContainerName: "n1", Init: true}, cmd,
			"run -i --rm --pull never --name n1 --init -e SPINDLE_RUNNER=TOKEN -e B=2 img:1 sh -c x"},
		{"podman host", docker.TargetOptions{CLI: "podman", Container: "c", Host: "unix:///p.sock"}, runner.Command{Argv: []string{"id"}},
			"--url unix:///p.sock exec -i -e SPINDLE_RUNNER=TOKEN c id"},
		{"podman connection", docker.TargetOptions{CLI: "podman", Image: "i", ContainerName: "n", Context: "box"}, runner.Command{Argv: []string{"id"}},
			"--connection box run -i --rm --pull never --name n -e SPINDLE_RUNNER=TOKEN i id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.CLI = fakeCLI(t, cmp.Or(o.CLI, "docker"))
			tg, err := docker.NewTarget(o)
			if err != nil {
				t.Fatal(err)
			}
			r, err := tg.Runner(tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(strings.Join(docker.Argv(r), " "), docker.Token(r), "TOKEN")
			if got != tc.want {
				t.Errorf("argv\n got %s\nwant %s", got, tc.want)
			}
			if info := tg.Info(); !info.Caps.Signal || info.Caps.PassFDs || info.Caps.SameHost {
				t.Errorf("caps %+v", info.Caps)
			}
		})
	}
}

// fakeCLI writes a do-nothing program named name (its base name picks the
// dialect) and returns its path: the argv tests never run it.
func fakeCLI(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTarget_FreshNamesDiffer(t *testing.T) {
	tg := mustTarget(t, docker.TargetOptions{Image: "img"})
	a, _ := tg.Runner(runner.Command{Argv: []string{"id"}})
	b, _ := tg.Runner(runner.Command{Argv: []string{"id"}})
	if a.ID() == b.ID() || !strings.HasPrefix(a.ID(), "spindle-") {
		t.Errorf("fresh container names %q, %q", a.ID(), b.ID())
	}
}

func TestNewTarget_BadOptions(t *testing.T) {
	for _, o := range []docker.TargetOptions{
		{},
		{Container: "a", Image: "b"},
		{Container: "a", Context: "x", Host: "y"},
		{Container: "a", ContainerName: "n"},
		{Container: "a", RunArgs: []string{"--rm"}},
		{Container: "a", Init: true},
		{Container: "-a"},
		{Image: "--privileged"},
		{Container: "a", ContainerEnv: []string{"NOVALUE"}},
	} {
		if _, err := docker.NewTarget(o); err == nil {
			t.Errorf("NewTarget(%+v) accepted", o)
		}
	}
	tg := mustTarget(t, docker.TargetOptions{Container: "a"})
	if _, err := tg.Runner(runner.Command{}); err == nil {
		t.Error("empty argv accepted")
	}
	if _, err := tg.Runner(runner.Command{Argv: []string{"id"}, Env: []string{"=x"}}); err == nil {
		t.Error("bad env accepted")
	}
}

func TestNewTarget_CLIMissing(t *testing.T) {
	for _, cli := range []string{"docker-spindle-missing", "/nonexistent/podman"} {
		_, err := docker.NewTarget(docker.TargetOptions{CLI: cli, Container: "c"})
		if !errors.Is(err, docker.ErrCLINotFound) || !errors.Is(err, exec.ErrNotFound) && !strings.HasPrefix(cli, "/") {
			t.Errorf("%s: %v, want ErrCLINotFound and exec.ErrNotFound", cli, err)
		}
		var de *docker.Error
		if !errors.As(err, &de) || de.Op != "lookup" {
			t.Errorf("%s: %#v", cli, err)
		}
	}
}

func mustTarget(t *testing.T, o docker.TargetOptions) *docker.Target {
	t.Helper()
	if o.CLI == "" {
		o.CLI = fakeCLI(t, "docker")
	}
	tg, err := docker.NewTarget(o)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
