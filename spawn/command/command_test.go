package command_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
	"github.com/spindle-go/spindle/spawn/runner"
)

// requireTool skips when a tool is missing, unless the integration suites
// must run (CI).
func requireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("SPINDLE_REQUIRE_INTEGRATION") == "1" {
				t.Fatalf("%s is missing and SPINDLE_REQUIRE_INTEGRATION=1", n)
			}
			t.Skipf("%s is missing", n)
		}
	}
	if os.Getuid() != 0 {
		if os.Getenv("SPINDLE_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("namespaces need root and SPINDLE_REQUIRE_INTEGRATION=1")
		}
		t.Skip("namespaces need root")
	}
}

// namespaced starts `unshare --fork --kill-child --pid --mount-proc --uts
// sh -c 'hostname inner; ...; sleep 600'` and returns the host PID of its
// inner shell (PID 1 of the new PID namespace). With --kill-child, killing
// unshare at the test's end kills that PID 1 too, and with it the
// namespace (without it the sleep outlived the test).
func namespaced(t testing.TB) int {
	t.Helper()
	requireTool(t, "unshare", "nsenter")
	cmd := exec.Command("unshare", "--fork", "--kill-child", "--pid", "--mount-proc", "--uts", "sh", "-c",
		`hostname inner && echo ready && exec sleep 600`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("unshare said %q, %v", line, err)
	}
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := strconv.Atoi(strings.TrimSpace(string(kids)))
	if err != nil {
		t.Fatalf("children of unshare: %q", kids)
	}
	return inner
}

func TestCommand_NsenterIntoAnotherProcessNamespaces(t *testing.T) {
	inner := namespaced(t)
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := command.Options{
		Argv:      []string{"nsenter", "-t", strconv.Itoa(inner), "-m", "-u", "-p", "--"},
		Common:    spawn.Common{Name: "inner", Grace: time.Second},
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute},
	}
	c, err := command.Start(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := where(t, ctx, root, c)
	info := c.Info()
	if h.Hostname != "inner" || h.Pid != info.Pid || h.Pid == inner || info.Method != "command" {
		t.Fatalf("child reports %+v with info %+v; want hostname inner and its own PID-namespace PID", h, info)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("exit %v, want status 0", err)
	}
}

func TestCommand_KillEndsTheChildInTheNamespace(t *testing.T) {
	inner := namespaced(t)
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := command.Start(ctx, root, command.Options{
		Argv:      []string{"nsenter", "-t", strconv.Itoa(inner), "-m", "-u", "-p", "--"},
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Dead():
	case <-ctx.Done():
		t.Fatal("no IS_DEAD after Kill")
	}
	if code, ok := spawn.ExitStatus(c.DeadReason()); !ok || code != 137 {
		t.Fatalf("reason %v: exit status %d, %v; want 137", c.DeadReason(), code, ok)
	}
	if err := c.Signal(ctx, runner.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal after death: %v, want os.ErrProcessDone", err)
	}
}

func TestCommand_ExitStatusOfACleanExit(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := command.Start(ctx, root, command.Options{Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "command-env" || c.Info().Host != "env" {
		t.Fatalf("name %q, info %+v", c.Name(), c.Info())
	}
	if err := root.RequestShutdown(c.ID()); err != nil { // the child leaves by itself
		t.Fatal(err)
	}
	<-c.Dead()
	if code, ok := spawn.ExitStatus(c.DeadReason()); !ok || code != 0 {
		t.Fatalf("reason %v: exit status %d, %v; want a clean 0", c.DeadReason(), code, ok)
	}
}

func TestCommand_Errors(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := command.Start(ctx, root, command.Options{}); err == nil {
		t.Fatal("empty Argv accepted")
	}
	_, err := command.Start(ctx, root, command.Options{Argv: []string{"/nonexistent/lxc", "exec", "x", "--"}})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing CLI: %v, want an error wrapping os.ErrNotExist", err)
	}
	// A prefix that runs but whose target has no such shell: ErrNoShell.
	_, err = command.Start(ctx, root, command.Options{Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{Shell: "/nonexistent/sh"}})
	if !errors.Is(err, spawn.ErrNoShell) {
		t.Fatalf("no shell: %v, want ErrNoShell", err)
	}
}
