package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
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

// TestVia_SSHHostKeyAskedAtTheOrigin: the intermediate connects to the
// real sshd with a known_hosts that lacks its key; HostKeyPrompt stays at
// the root and is asked from there with the key's fingerprint. Reject is
// ErrUnknownHost at the root; accept-once starts and writes nothing;
// remember starts and writes the intermediate's known_hosts, after which
// a strict start needs no prompt; a changed key is never asked about
// (ErrHostKeyMismatch); a failing prompt rejects. The same without Via.
func TestVia_SSHHostKeyAskedAtTheOrigin(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	pubBytes, err := os.ReadFile(srv.HostKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := xssh.ParseAuthorizedKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	wantQ := ssh.HostKeyQuestion{Host: knownhosts.Normalize(srv.Addr), KeyType: pub.Type(), Fingerprint: xssh.FingerprintSHA256(pub)}
	root := newRoot(t, nil)
	ctx := testCtx(t, 3*time.Minute)
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	for _, via := range []spawn.Hop{a, nil} {
		name := "via"
		if via == nil {
			name = "direct"
		}
		t.Run(name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			// The prompt runs on a calls handler goroutine of the root; its
			// answer reaches the start's caller through the intermediate's
			// process, an order the race detector cannot see: hence the lock.
			var mu sync.Mutex
			var asked []ssh.HostKeyQuestion
			opts := func(d ssh.HostKeyDecision, perr error) ssh.Options {
				o := sshOpts(srv, "hk")
				o.Via, o.KnownHostsFiles = via, []string{kh}
				o.HostKeyPrompt = func(_ context.Context, q ssh.HostKeyQuestion) (ssh.HostKeyDecision, error) {
					if os.Getpid() != self {
						panic("host key prompt run outside the origin")
					}
					mu.Lock()
					asked = append(asked, q)
					mu.Unlock()
					return d, perr
				}
				return o
			}
			check := func(step string, n int) {
				t.Helper()
				mu.Lock()
				defer mu.Unlock()
				if len(asked) != n || (n > 0 && asked[n-1] != wantQ) {
					t.Fatalf("%s: asked %+v, want %d questions, the last %+v", step, asked, n, wantQ)
				}
			}
			if err := trySSH(t, root, opts(ssh.HostKeyReject, nil)); !errors.Is(err, ssh.ErrUnknownHost) {
				t.Fatalf("reject: %v, want ErrUnknownHost", err)
			}
			check("reject", 1)
			if err := trySSH(t, root, opts(ssh.HostKeyRemember, errors.New("the user closed the dialog"))); !errors.Is(err, ssh.ErrUnknownHost) {
				t.Fatalf("failing prompt: %v, want ErrUnknownHost", err)
			}
			check("failing prompt", 2)
			c := startSSH(t, root, opts(ssh.HostKeyAcceptOnce, nil))
			check("accept once", 3)
			if via != nil && c.Info().Via != a.ID() {
				t.Fatalf("info %+v", c.Info())
			}
			if _, err := os.Stat(kh); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("accept once wrote known_hosts: %v", err)
			}
			_ = c.Shutdown(ctx)
			startSSH(t, root, opts(ssh.HostKeyRemember, nil)).Shutdown(ctx)
			check("remember", 4)
			strict := sshOpts(srv, "strict")
			strict.Via, strict.KnownHostsFiles, strict.HostKeyPolicy = via, []string{kh}, ssh.HostKeyStrict
			startSSH(t, root, strict).Shutdown(ctx)

			// Another key on file for the host: a mismatch, never a question.
			other, _, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			otherPub, _ := xssh.NewPublicKey(other)
			if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, otherPub)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := trySSH(t, root, opts(ssh.HostKeyAcceptOnce, nil)); !errors.Is(err, ssh.ErrHostKeyMismatch) {
				t.Fatalf("changed key: %v, want ErrHostKeyMismatch", err)
			}
			check("changed key", 4)
		})
	}
}

// TestVia_ConcurrentColdStartsUploadOnce: six SSH contexts started at
// once through one intermediate on a host whose cache is empty: the
// intermediate uploads the binary once (the others wait for that upload
// and run what it installed), and each context answers.
func TestVia_ConcurrentColdStartsUploadOnce(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	ctx := testCtx(t, 2*time.Minute)
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "cold")
	const n = 6
	cs := make([]*ssh.Context, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			opts := sshOpts(srv, fmt.Sprint("cold-", i))
			opts.Via, opts.CacheDirs = a, []string{cache}
			cs[i], errs[i] = ssh.Start(ctx, root, opts)
		})
	}
	wg.Wait()
	uploads, shared := 0, 0
	for i, c := range cs {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
		b := c.Info().Boot
		if b.Uploaded > 0 {
			uploads++
		}
		if b.Shared {
			shared++
		}
		if pong, err := actors.Request[*Pong](ctx, root, echoIn(t, c), &Ping{N: i}); err != nil || pong.N != i {
			t.Fatalf("context %d: pong %+v, %v", i, pong, err)
		}
	}
	if uploads != 1 {
		t.Fatalf("%d uploads for %d concurrent cold starts to one host through one intermediate (%d shared), want 1", uploads, n, shared)
	}
	t.Logf("%d starts: 1 upload, %d waited for it, %d found it cached", n, shared, n-1-shared)
}
