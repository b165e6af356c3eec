package vianet_test

import (
	"errors"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// TestNetns_SSHThroughSSH: the root cannot reach the inner host (a direct
// ssh.Start fails), yet reaches a context there started by a context on
// the bastion (Via, not ProxyJump), and a local context behind that one;
// the root talks to each directly, and every context runs in the
// namespace of its host. A graceful shutdown of the chain leaves nothing
// on the inner host.
func TestNetns_SSHThroughSSH(t *testing.T) {
	c := startChain(t, 0, 0, false)
	ctx := testCtx(t, time.Minute)
	direct := sshOpts(c.net.Inner.SSH, "direct")
	direct.ConnectTimeout = 2 * time.Second
	if x, err := ssh.Start(ctx, c.root, direct); err == nil {
		shutdown(x)
		t.Fatal("the root reached the inner host directly")
	} else {
		t.Logf("direct start from the root: %v", err)
	}
	for i := 0; i < 50; i++ {
		for name, pid := range c.echo {
			if pong, err := actors.Request[*Pong](ctx, c.root, pid, &Ping{N: i}); err != nil || pong.N != i || pong.Pid != c.pids[name] {
				t.Fatalf("%s: pong %+v, %v", name, pong, err)
			}
		}
	}
	if err := c.inner.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown of inner through the bastion: %v", err)
	}
	if err := c.inner.Wait(ctx); err != nil {
		t.Fatalf("inner's exit: %v, want status 0", err)
	}
	waitEmpty(t, c.net.Inner, 10*time.Second)
}

// TestNetns_KillBastion: the chain root -> ssh bastion -> ssh inner (as
// spindle-a) -> sudo root on inner (the password asked at the root) ->
// app. Killing the bastion's process: the root sees IS_DEAD for it and
// for every context behind it (requests in flight fail with
// ErrContextDead at once), and the contexts on the inner host, their
// parent's link gone, exit: no process is left in the inner namespace.
func TestNetns_KillBastion(t *testing.T) {
	c := startChain(t, 0, 0, true)
	ctx := testCtx(t, time.Minute)
	inFlight := map[string]<-chan error{}
	for _, name := range []string{"inner", "root@inner", "app"} {
		inFlight[name] = pending(ctx, c.root, c.echo[name])
	}
	killed := time.Now()
	if err := c.bastion.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, x := range c.hops {
		select {
		case <-x.Dead():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not declared dead 10s after the bastion's kill", x.Name())
		}
		t.Logf("%s: IS_DEAD %v after the kill: %v", x.Name(), time.Since(killed), x.DeadReason())
		if !errors.Is(x.DeadReason(), actors.ErrContextDead) && x != c.bastion {
			t.Errorf("%s: reason %v, want ErrContextDead", x.Name(), x.DeadReason())
		}
	}
	for name, ch := range inFlight {
		if err := <-ch; !errors.Is(err, actors.ErrContextDead) {
			t.Errorf("request in flight to %s: %v, want ErrContextDead", name, err)
		}
	}
	waitEmpty(t, c.net.Inner, 10*time.Second)
	waitEmpty(t, c.net.Bastion, 10*time.Second)
}

// TestNetns_CutBastion: the chain of TestNetns_KillBastion (sudo
// included); it pulls the cable between the root and the bastion:
// no FIN, no RST. The root's heartbeat declares the bastion dead within
// its timeout, and with it every context behind it; on the far side the
// bastion's own heartbeat toward the root ends it, its link to the inner
// host closes, and the contexts there exit.
func TestNetns_CutBastion(t *testing.T) {
	const interval, timeout = 250 * time.Millisecond, 2 * time.Second
	c := startChain(t, interval, timeout, true)
	ctx := testCtx(t, time.Minute)
	inFlight := pending(ctx, c.root, c.echo["app"])
	cut := time.Now()
	c.net.Bastion.Cut(t)
	for _, x := range c.hops {
		select {
		case <-x.Dead():
		case <-time.After(timeout + 10*time.Second):
			t.Fatalf("%s not declared dead %v after the cut (heartbeat timeout %v)", x.Name(), timeout+10*time.Second, timeout)
		}
		t.Logf("%s: IS_DEAD %v after the cut: %v", x.Name(), time.Since(cut), x.DeadReason())
		if !errors.Is(x.DeadReason(), actors.ErrHeartbeatTimeout) {
			t.Errorf("%s: reason %v, want the heartbeat timeout", x.Name(), x.DeadReason())
		}
	}
	if err := <-inFlight; !errors.Is(err, actors.ErrContextDead) {
		t.Errorf("request in flight to app: %v, want ErrContextDead", err)
	}
	// The bastion, cut off, notices by its own heartbeat (the same
	// timeout); then its SSH connection to the inner host closes.
	waitEmpty(t, c.net.Inner, timeout+15*time.Second)
	if alive(c.pids["bastion"]) {
		t.Errorf("the bastion's process %d outlived its parent link", c.pids["bastion"])
	}
	c.net.Bastion.Restore(t) // the sshd sessions left there can now end
}

// TestNetns_CutInner pulls the cable between the bastion and the inner
// host, behind the root's back: the bastion's heartbeat declares inner
// dead within its timeout and the root hears it (DEL_ROUTE): IS_DEAD for
// inner and the contexts behind it, while the bastion stays up and
// answers; on the inner host the contexts, cut off, end by their own
// heartbeat.
func TestNetns_CutInner(t *testing.T) {
	const interval, timeout = 250 * time.Millisecond, 2 * time.Second
	c := startChain(t, interval, timeout, false)
	ctx := testCtx(t, time.Minute)
	inFlight := pending(ctx, c.root, c.echo["app"])
	cut := time.Now()
	c.net.Inner.Cut(t)
	for _, x := range c.hops[1:] {
		select {
		case <-x.Dead():
		case <-time.After(timeout + 10*time.Second):
			t.Fatalf("%s not declared dead %v after the cut (heartbeat timeout %v)", x.Name(), timeout+10*time.Second, timeout)
		}
		t.Logf("%s: IS_DEAD %v after the cut: %v", x.Name(), time.Since(cut), x.DeadReason())
		if !errors.Is(x.DeadReason(), actors.ErrContextDead) {
			t.Errorf("%s: reason %v, want ErrContextDead", x.Name(), x.DeadReason())
		}
	}
	if err := <-inFlight; !errors.Is(err, actors.ErrContextDead) {
		t.Errorf("request in flight to app: %v, want ErrContextDead", err)
	}
	if pong, err := actors.Request[*Pong](ctx, c.root, c.echo["bastion"], &Ping{N: 9}); err != nil || pong.N != 9 {
		t.Fatalf("the bastion after its link to inner was cut: %+v, %v", pong, err)
	}
	waitEmpty(t, c.net.Inner, timeout+15*time.Second)
}
