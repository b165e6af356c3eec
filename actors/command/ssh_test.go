package command_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/command"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// TestRun_OverSSHCtrlCLeavesNoProcess: a command on an SSH host (sshd on
// loopback, this test binary as the remote context) streams its output,
// and the root's Shutdown (Ctrl-C) leaves none of its processes behind,
// which the issue saw with a bare `sh -c` over SSH.
func TestRun_OverSSHCtrlCLeavesNoProcess(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "xdg")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.Config{Env: []string{"XDG_CACHE_HOME=" + cache, "SHLVL=1"}})
	root := newRoot(t, actors.Config{})
	var env []string
	if v := os.Getenv("GORACE"); v != "" {
		env = append(env, "GORACE="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := ssh.Start(ctx, root, ssh.Options{
		Common:          spawn.Common{Env: env, Name: "host-1", Grace: time.Second},
		Host:            srv.User + "@" + srv.Addr,
		ConfigFile:      "none",
		Agent:           "none",
		IdentityFiles:   []string{srv.UserKey},
		KnownHostsFiles: []string{srv.KnownHosts},
	})
	if err != nil {
		t.Fatalf("ssh.Start: %v", err)
	}
	out := newLines()
	done := make(chan error, 1)
	go func() {
		done <- runner(root).Run(context.Background(), c.ID(), command.Cmd{Path: "sh",
			Args: []string{"-c", "echo $$; echo started; sleep 1000 & sleep 1000 & wait"}, Stdout: out})
	}()
	pgid := atoi(t, out.next(t))
	if s := out.next(t); s != "started" {
		t.Fatalf("second line %q", s)
	}
	shutdown(t, root) // Ctrl-C
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after the shutdown")
		}
	case <-time.After(waitLong):
		t.Fatal("Run still running after the root's shutdown")
	}
	waitGroupGone(t, pgid) // the SSH host is this machine
}
