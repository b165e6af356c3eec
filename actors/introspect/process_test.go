package introspect_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/introspect"
)

// childEnv makes the test binary a child context over stdin and stdout.
const childEnv = "SPINDLE_INTROSPECT_CHILD"

func childMain() int {
	t := actors.Transport{R: os.Stdin, W: os.Stdout, C: stdio{}}
	cfg := actors.Config{Setup: introspect.Setup, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	n, err := actors.Join(context.Background(), cfg, t)
	if err != nil {
		return 2
	}
	<-n.Stopping()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)
	return 0
}

type stdio struct{}

func (stdio) Close() error { _, _ = os.Stdin.Close(), os.Stdout.Close(); return nil }

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// startChild starts this binary as a child process of parent.
func startChild(t *testing.T, parent *actors.Node, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	wait := func() { once.Do(func() { _ = cmd.Wait() }) }
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		wait()
	})
	tr := actors.Transport{R: stdout, W: stdin, C: closerFunc(func() error {
		_ = stdin.Close()
		return cmd.Process.Kill()
	})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := parent.AttachChild(ctx, name, tr); err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	return cmd
}

// TestTree_ChildProcesses: real child processes report their own pid and
// host; a stopped one (SIGSTOP) is marked StateTimeout and Tree returns
// by its deadline with the other.
func TestTree_ChildProcesses(t *testing.T) {
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: introspect.Setup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = root.Shutdown(ctx)
	})
	w1 := startChild(t, root, "w1")
	w2 := startChild(t, root, "w2")
	host, _ := os.Hostname()
	got := byName(t, treeWithin(t, root, 10*time.Second))
	for name, cmd := range map[string]*exec.Cmd{"w1": w1, "w2": w2} {
		c := got[name]
		if c == nil || c.State != introspect.StateUp || c.PID != cmd.Process.Pid || c.Host != host || c.Uptime < 0 {
			t.Fatalf("%s: %+v", name, c)
		}
	}
	if err := w2.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	got = byName(t, treeWithin(t, root, 3*time.Second)) // generous: w1 must answer in it under load
	if got["w1"].State != introspect.StateUp || got["w2"].State != introspect.StateTimeout {
		t.Fatalf("w1 %+v, w2 %+v", got["w1"], got["w2"])
	}
}
