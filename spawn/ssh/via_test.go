package ssh_test

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// TestVia_SSHThroughIntermediate: a local intermediate connects to sshd
// and runs the bootstrap; the root reaches the SSH context directly;
// killing the intermediate ends the connection,
// raises IS_DEAD at the root and ends the remote process.
func TestVia_SSHThroughIntermediate(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	ctx := testCtx(t, 2*time.Minute)
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	opts := sshOpts(srv, "inner")
	opts.Via = a
	c := startSSH(t, root, opts)
	if info := c.Info(); info.Via != a.ID() || info.Method != "ssh" || info.Boot.Connect <= 0 {
		t.Fatalf("info %+v", info)
	}
	pong, err := actors.Request[*Pong](ctx, root, echoIn(t, c), &Ping{N: 3})
	if err != nil || pong.N != 3 || pong.Pid != c.Info().Pid {
		t.Fatalf("pong %+v, %v", pong, err)
	}
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Dead():
	case <-ctx.Done():
		t.Fatal("the SSH context behind the killed bastion was not declared dead")
	}
	if !errors.Is(c.DeadReason(), actors.ErrContextDead) {
		t.Fatalf("dead reason %v", c.DeadReason())
	}
	for alive(pong.Pid) {
		if ctx.Err() != nil {
			t.Fatalf("remote process %d outlived the bastion's connection", pong.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestVia_SSHPasswordAskedAtTheOrigin: the Password callback stays at the
// root; the intermediate asks it when the server wants a password (the
// wrong one here: the test does not know the user's), and the refusal
// keeps its sentinel across the hop.
func TestVia_SSHPasswordAskedAtTheOrigin(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{Password: true})
	root := newRoot(t, nil)
	ctx := testCtx(t, 2*time.Minute)
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	opts := sshOpts(srv, "pw")
	opts.Via = a
	opts.IdentityFiles = []string{filepath.Join(t.TempDir(), "none")}
	opts.Password = func(user, host string) (string, error) {
		asked.Add(1)
		if user != srv.User || host != srv.Host {
			t.Errorf("password asked for %s@%s", user, host)
		}
		return "certainly not the password", nil
	}
	err = trySSH(t, root, opts)
	if !errors.Is(err, ssh.ErrAuthFailed) {
		t.Fatalf("error %v, want ErrAuthFailed through the hop", err)
	}
	if asked.Load() == 0 {
		t.Fatal("the password was never asked at the origin")
	}
}
