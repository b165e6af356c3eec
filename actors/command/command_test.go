package command_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os/exec"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/command"
	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/spawn"
)

func pair(t testing.TB) (*actors.Node, *child) {
	root := newRoot(t, actors.Config{})
	return root, attach(t, root, "worker", actors.Config{})
}

func TestRun_OutputAndExitStatus(t *testing.T) {
	root, c := pair(t)
	var out, errb bytes.Buffer
	err := runner(root).Run(timeout(t), c.node.ID(), command.Cmd{Path: "sh",
		Args: []string{"-c", "echo out; echo err >&2; echo $GREETING; pwd; exit 3"},
		Env:  []string{"GREETING=hi", "PATH=/usr/bin:/bin"}, Dir: "/",
		Stdout: &out, Stderr: &errb})
	var ee *command.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || ee.Signal != "" || ee.Context != c.node.ID() {
		t.Fatalf("Run: %v, want exit status 3", err)
	}
	if out.String() != "out\nhi\n/\n" || errb.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	if err := runner(root).Run(timeout(t), c.node.ID(), command.Cmd{Path: "true"}); err != nil {
		t.Fatalf("true: %v", err)
	}
}

func TestRun_Signal(t *testing.T) {
	root, c := pair(t)
	err := runner(root).Run(timeout(t), c.node.ID(), command.Cmd{Path: "sh", Args: []string{"-c", "kill -KILL $$"}})
	var ee *command.ExitError
	if !errors.As(err, &ee) || ee.Signal != "SIGKILL" || ee.ExitCode() != -1 {
		t.Fatalf("Run: %#v, want killed by SIGKILL", err)
	}
}

func TestRun_NotFound(t *testing.T) {
	root, c := pair(t)
	err := runner(root).Run(timeout(t), c.node.ID(), command.Cmd{Path: "no-such-program-spindle"})
	var se *command.StartError
	if !errors.As(err, &se) || !errors.Is(err, exec.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Run: %#v, want a StartError (not found)", err)
	}
	err = runner(root).Run(timeout(t), c.node.ID(), command.Cmd{Path: "true", Dir: "/no/such/dir"})
	if !errors.As(err, &se) || errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Run in a missing dir: %#v", err)
	}
	err = runner(root).Run(timeout(t), c.node.ID(), command.Cmd{Path: "/no/such/program"})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Run of a missing path: %#v", err)
	}
}

func TestRun_Stdin(t *testing.T) {
	root, c := pair(t)
	in := bytes.Repeat([]byte("0123456789abcdef"), 5<<16) // 5 MiB
	var out bytes.Buffer
	err := runner(root).Run(timeout(t), c.node.ID(), command.Cmd{Path: "cat", Stdin: bytes.NewReader(in), Stdout: &out})
	if err != nil || sha256.Sum256(out.Bytes()) != sha256.Sum256(in) {
		t.Fatalf("cat: %d bytes back, %v", out.Len(), err)
	}
	// A command that stops reading its stdin early still ends.
	out.Reset()
	err = runner(root).Run(timeout(t), c.node.ID(), command.Cmd{Path: "head", Args: []string{"-c", "5"},
		Stdin: bytes.NewReader(in), Stdout: &out})
	if err != nil || out.String() != "01234" {
		t.Fatalf("head: %q, %v", out.String(), err)
	}
}

func TestOutput(t *testing.T) {
	root, c := pair(t)
	out, err := runner(root).Output(timeout(t), c.node.ID(), "sh", "-c", "echo hello; echo oops >&2; exit 1")
	var ee *command.ExitError
	if string(out) != "hello\n" || !errors.As(err, &ee) || string(ee.Stderr) != "oops\n" {
		t.Fatalf("Output: %q, %#v", out, err)
	}
}

// TestRun_OutputStreamsAsItComes: the caller sees output before the
// command ends; cancelling ctx then kills the whole process group.
func TestRun_CancelKillsProcessGroup(t *testing.T) {
	root, c := pair(t)
	out := newLines()
	ctx, cancel := context.WithCancel(timeout(t))
	done := make(chan error, 1)
	go func() {
		done <- runner(root).Run(ctx, c.node.ID(), command.Cmd{Path: "sh",
			Args: []string{"-c", "echo $$; sleep 1000 & sleep 1000 & wait"}, Stdout: out})
	}()
	pgid := atoi(t, out.next(t)) // arrived while the command runs
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Run still running after the cancel")
	}
	waitGroupGone(t, pgid)
}

// TestRun_TermIgnoredThenKilled: a command that ignores SIGTERM is killed
// after KillGrace.
func TestRun_TermIgnoredThenKilled(t *testing.T) {
	root, c := pair(t)
	out := newLines()
	ctx, cancel := context.WithCancel(timeout(t))
	done := make(chan error, 1)
	go func() {
		done <- runner(root).Run(ctx, c.node.ID(), command.Cmd{Path: "sh",
			Args: []string{"-c", "trap '' TERM; echo $$; while :; do sleep 1; done"}, Stdout: out})
	}()
	pgid := atoi(t, out.next(t))
	cancel()
	<-done
	waitGroupGone(t, pgid)
}

// TestRun_CallerDeathKillsCommand: the context that asked for the command
// dies; the context running it kills the command's group.
func TestRun_CallerDeathKillsCommand(t *testing.T) {
	open := actors.Config{Setup: setupWith(command.Config{Allow: transfer.Anyone, KillGrace: 200 * time.Millisecond})}
	root := newRoot(t, open)
	caller := attach(t, root, "caller", open)
	worker := attach(t, root, "worker", open)
	out := newLines()
	go func() {
		_ = runner(caller.node).Run(context.Background(), worker.node.ID(), command.Cmd{Path: "sh",
			Args: []string{"-c", "echo $$; sleep 1000"}, Stdout: out})
	}()
	pgid := atoi(t, out.next(t))
	caller.kill()
	waitGroupGone(t, pgid)
}

func TestRun_RefusedFromChild(t *testing.T) {
	root, c := pair(t)
	err := runner(c.node).Run(timeout(t), root.ID(), command.Cmd{Path: "true"})
	if !errors.Is(err, transfer.ErrRefused) {
		t.Fatalf("a child runs a command in the root: %v", err)
	}
}

// TestRun_CtrlCLeavesNoProcess: the root (a real child process runs the
// command) shuts down, as on Ctrl-C: the command's whole process group is
// gone, and Run has returned.
func TestRun_CtrlCLeavesNoProcess(t *testing.T) {
	root := newRoot(t, actors.Config{})
	c, err := spawn.Local(timeout(t), root, spawn.Options{Common: spawn.Common{Name: "host"}})
	if err != nil {
		t.Fatal(err)
	}
	out := newLines()
	done := make(chan error, 1)
	go func() {
		done <- runner(root).Run(context.Background(), c.ID(), command.Cmd{Path: "sh",
			Args: []string{"-c", "echo $$; (trap '' TERM; sleep 1000) & sleep 1000 & wait"}, Stdout: out})
	}()
	pgid := atoi(t, out.next(t))
	t.Logf("group %d before: %v", pgid, groupMembers(pgid))
	shutdown(t, root)
	t.Logf("group %d after the shutdown: %v", pgid, groupMembers(pgid))
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after the shutdown")
		}
	case <-time.After(waitLong):
		t.Fatal("Run still running after the root's shutdown")
	}
	waitGroupGone(t, pgid)
	select {
	case <-c.Dead():
	case <-time.After(waitLong):
		t.Fatal("the child context is still up after the root's shutdown")
	}
}
