package sudo_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// SudoAsk makes the context that runs it ask context Hop to start a
// context through sudo to root (a hostile attempt when Hop is not its
// descendant).
type (
	SudoAsk   struct{ Hop uint32 }
	SudoAsked struct {
		Refused bool
		Err     string
	}
)

func viaSetup(n *actors.Node) error {
	ep, err := calls.New(n, calls.Config{})
	if err != nil {
		return err
	}
	return calls.Handle(ep, "test.sudo.ask", func(ctx context.Context, r *SudoAsk) (*SudoAsked, error) {
		tgt, err := sudo.Sudo(&sudo.Host{}, sudo.Options{})
		if err != nil {
			return nil, err
		}
		p, err := spawn.Start(ctx, n, tgt, spawn.Common{Name: "smuggled", Via: spawn.ContextID(r.Hop)}, spawn.Bootstrap{})
		if err == nil {
			_ = p.Kill()
			return &SudoAsked{}, nil
		}
		return &SudoAsked{Refused: errors.Is(err, calls.ErrRefused), Err: err.Error()}, nil
	})
}

// intermediate starts a local context from root: the hop.
func intermediate(t *testing.T, root *actors.Node, name string) *spawn.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: name, Grace: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}

func startVia(t testing.TB, root *actors.Node, via spawn.Hop, tgt runner.Target, dir string) (*spawn.Process, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return spawn.Start(ctx, root, tgt, spawn.Common{Name: tgt.Info().Method, Grace: 5 * time.Second, Env: raceEnv(), Via: via},
		spawn.Bootstrap{CacheDirs: []string{dir}})
}

// originPassword counts its calls and records that it ran here, in the
// root's process.
func originPassword(pw string, calls *atomic.Int32) sudo.Password {
	self := os.Getpid()
	return func(context.Context) ([]byte, error) {
		if os.Getpid() != self {
			panic("the password was asked outside the origin")
		}
		calls.Add(1)
		return []byte(pw), nil
	}
}

// noSecret fails t when pw is in the argv or environment of pid.
func noSecret(t *testing.T, pid int, pw string) {
	t.Helper()
	for _, f := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), pw) {
			t.Fatalf("the password is in /proc/%d/%s", pid, f)
		}
	}
}

// TestVia_SudoThroughIntermediate: root -> local intermediate -> sudo
// (as spindle-a, with its password, to root and to spindle-b) -> a child
// context: sudo runs on the intermediate as its child, the password is
// asked at the root once per start and is in no argv or environment of
// the chain; then sudo inside sudo (two descriptions deep, the inner
// NOPASSWD), and a wrong password, which is sudo.ErrBadPassword at the
// root after one attempt.
func TestVia_SudoThroughIntermediate(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	hop := intermediate(t, root, "hop")
	for _, to := range []sudotest.User{{Name: "root"}, u.B} {
		var n atomic.Int32
		tgt := mustSudo(t, host(u.A), sudo.Options{User: to.Name, Auth: sudo.Auth{Password: originPassword(u.A.Password, &n)}})
		p, err := startVia(t, root, hop, tgt, cacheDir(t))
		if err != nil {
			t.Fatalf("to %s: %v", to.Name, err)
		}
		me := ask(t, root, p, 1<<20)
		sudoPid := parentOf(t, me.Pid)
		if me.Uid != int(to.UID) || n.Load() != 1 || parentOf(t, sudoPid) != hop.Pid() {
			t.Fatalf("to %s: uid %d, password asked %d times, sudo %d's parent %d (the intermediate is %d)",
				to.Name, me.Uid, n.Load(), sudoPid, parentOf(t, sudoPid), hop.Pid())
		}
		if info := p.Info(); info.Via != hop.ID() || info.Method != "sudo" || info.User != to.Name {
			t.Fatalf("info %+v", info)
		}
		for _, pid := range []int{me.Pid, sudoPid, hop.Pid()} {
			noSecret(t, pid, u.A.Password)
		}
		stop(t, p)
	}

	// sudo (spindle-b to spindle-a, NOPASSWD) then sudo with spindle-a's
	// password to root: a wrapper's description holds its inner one.
	outer := mustSudo(t, host(u.B), sudo.Options{User: u.A.Name})
	var n atomic.Int32
	tgt := mustSudo(t, outer, sudo.Options{Auth: sudo.Auth{Password: originPassword(u.A.Password, &n)}})
	p, err := startVia(t, root, hop, tgt, cacheDir(t))
	if err != nil {
		t.Fatalf("sudo inside sudo: %v", err)
	}
	if me := ask(t, root, p, 16); me.Uid != 0 || n.Load() != 1 {
		t.Fatalf("sudo inside sudo: uid %d, password asked %d times", me.Uid, n.Load())
	}
	stop(t, p)

	var bad atomic.Int32
	tgt = mustSudo(t, host(u.A), sudo.Options{Auth: sudo.Auth{Password: originPassword("nope", &bad)}})
	_, err = startVia(t, root, hop, tgt, cacheDir(t))
	var ae *sudo.AuthError
	if !errors.Is(err, sudo.ErrBadPassword) || bad.Load() != 1 || errors.As(err, &ae) {
		t.Fatalf("wrong password: %v, asked %d times; want ErrBadPassword (by name, not the *AuthError) once", err, bad.Load())
	}
	// No password at the origin: the tool's prompt is ErrPasswordRequired.
	_, err = startVia(t, root, hop, mustSudo(t, host(u.A), sudo.Options{}), cacheDir(t))
	if !errors.Is(err, sudo.ErrPasswordRequired) {
		t.Fatalf("no password: %v, want ErrPasswordRequired", err)
	}
}

// TestVia_SuAndDoasThroughIntermediate: su (to spindle-b) and doas (to
// root) from spindle-a on the intermediate, each password asked at the
// root once.
func TestVia_SuAndDoasThroughIntermediate(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	hop := intermediate(t, root, "hop")
	var suCalls, doasCalls atomic.Int32
	su := mustTTY(t)(sudo.Su(host(u.A), sudo.SuOptions{User: u.B.Name, Auth: sudo.Auth{Password: originPassword(u.B.Password, &suCalls)}}))
	doas := mustTTY(t)(sudo.Doas(host(u.A), sudo.DoasOptions{Auth: sudo.Auth{Password: originPassword(u.A.Password, &doasCalls)}}))
	for _, c := range []struct {
		tgt   runner.Target
		uid   uint32
		calls *atomic.Int32
	}{{su, u.B.UID, &suCalls}, {doas, 0, &doasCalls}} {
		p, err := startVia(t, root, hop, c.tgt, cacheDir(t))
		if err != nil {
			t.Fatalf("%s: %v", c.tgt.Info().Method, err)
		}
		if me := ask(t, root, p, 64<<10); me.Uid != int(c.uid) || c.calls.Load() != 1 {
			t.Fatalf("%s: uid %d, password asked %d times", c.tgt.Info().Method, me.Uid, c.calls.Load())
		}
		stop(t, p)
	}
	var bad atomic.Int32
	doas = mustTTY(t)(sudo.Doas(host(u.A), sudo.DoasOptions{Auth: sudo.Auth{Password: originPassword("nope", &bad)}}))
	if _, err := startVia(t, root, hop, doas, cacheDir(t)); !errors.Is(err, sudo.ErrBadPassword) || bad.Load() != 1 {
		t.Fatalf("doas, wrong password: %v, asked %d times", err, bad.Load())
	}
}

// TestVia_SudoHostileAsk: a context that is not the intermediate's
// ancestor (its sibling, its own child) asking it to start a context
// through sudo is refused before anything runs.
func TestVia_SudoHostileAsk(t *testing.T) {
	sudotest.Require(t, "sudo")
	root := newRoot(t)
	hop := intermediate(t, root, "hop")
	sib := intermediate(t, root, "sibling")
	kid, err := spawn.Local(context.Background(), root, spawn.Options{Common: spawn.Common{Name: "kid", Via: hop}})
	if err != nil {
		t.Fatal(err)
	}
	defer kid.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, asker := range []spawn.Child{sib, kid} {
		got, err := calls.Call[SudoAsk, SudoAsked](ctx, calls.Of(root), asker.ID(), "test.sudo.ask", &SudoAsk{Hop: hop.ID()})
		if err != nil || !got.Refused {
			t.Fatalf("%s asking: %+v, %v; want refused", asker.Name(), got, err)
		}
	}
}

// TestVia_TargetThatCannotTravel: a wrapper over a target that is not a
// spawn.ViaTarget is refused at the origin (ErrViaOption), nothing sent.
func TestVia_TargetThatCannotTravel(t *testing.T) {
	root := newRoot(t)
	tgt := mustSudo(t, &sshCLI{host: &sudo.Host{}}, sudo.Options{})
	_, err := spawn.Start(context.Background(), root, tgt, spawn.Common{Via: spawn.ContextID(99)}, spawn.Bootstrap{})
	if !errors.Is(err, spawn.ErrViaOption) {
		t.Fatalf("err = %v, want ErrViaOption", err)
	}
}

// TestVia_ChainSSHSudo: one expression, root -> local hop -> ssh (the
// real sshd on 127.0.0.1, as spindle-a, connected from the hop) -> sudo
// to root on that host (spindle-a's password asked at the root) -> a
// local context of that root context. Every hop's handle answers, runs as
// the user it should and is its predecessor's child; then the same chain
// with a wrong password fails at step 2 with sudo.ErrBadPassword, and the
// hops before it are shut down.
func TestVia_ChainSSHSudo(t *testing.T) {
	u := sudotest.Setup(t)
	cli := sshAs(t, u.A)
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chain := func(pw sudo.Password) ([]spawn.Child, error) {
		return spawn.Chain(ctx, root,
			spawn.LocalStep(spawn.Options{Common: spawn.Common{Name: "hop", Grace: 5 * time.Second}}),
			ssh.Step(ssh.Options{Host: u.A.Name + "@" + cli.addr, ConfigFile: "none", Agent: "none",
				IdentityFiles: []string{cli.key}, KnownHostsFiles: []string{cli.knownHosts},
				Common:    spawn.Common{Name: "ssh-a", Grace: 5 * time.Second, Env: raceEnv()},
				Bootstrap: spawn.Bootstrap{CacheDirs: []string{cacheDir(t)}}}),
			spawn.TargetStep(mustSudo(t, &sudo.Host{}, sudo.Options{Auth: sudo.Auth{Password: pw}}),
				spawn.Common{Name: "sudo-root", Grace: 5 * time.Second, Env: raceEnv()}, spawn.Bootstrap{CacheDirs: []string{cacheDir(t)}}),
			spawn.LocalStep(spawn.Options{Common: spawn.Common{Name: "leaf", Grace: 5 * time.Second}}))
	}
	var n atomic.Int32
	hops, err := chain(originPassword(u.A.Password, &n))
	if err != nil {
		t.Fatal(err)
	}
	uids := []int{0, int(u.A.UID), 0, 0}
	var pids []int
	for i, h := range hops {
		me := ask(t, root, h, 16)
		pids = append(pids, me.Pid)
		if me.Uid != uids[i] {
			t.Fatalf("hop %d (%s) runs as uid %d, want %d", i, h.Name(), me.Uid, uids[i])
		}
		if i > 0 && h.Info().Via != hops[i-1].ID() {
			t.Fatalf("hop %d via %d, want %d", i, h.Info().Via, hops[i-1].ID())
		}
	}
	if n.Load() != 1 || parentOf(t, pids[3]) != pids[2] || parentOf(t, parentOf(t, pids[2])) != pids[1] {
		t.Fatalf("password asked %d times; pids %v, leaf's parent %d, sudo-root's grandparent %d",
			n.Load(), pids, parentOf(t, pids[3]), parentOf(t, parentOf(t, pids[2])))
	}
	if err := hops[0].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		for deadline := time.Now().Add(10 * time.Second); running(pid); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs after the first hop's shutdown", pid)
			}
		}
	}

	before := len(root.Routes())
	var bad atomic.Int32
	_, err = chain(originPassword("nope", &bad))
	var ce *spawn.ChainError
	if !errors.As(err, &ce) || ce.Step != 2 || !errors.Is(err, sudo.ErrBadPassword) || bad.Load() != 1 {
		t.Fatalf("wrong password: %v (asked %d times), want a *ChainError at step 2 matching ErrBadPassword", err, bad.Load())
	}
	for deadline := time.Now().Add(10 * time.Second); len(root.Routes()) != before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("routes %d, %d before: hops left behind", len(root.Routes()), before)
		}
	}
}

// TestVia_SudoOverSSHThroughIntermediate: "sudo over ssh" as one
// description: the intermediate connects to the real sshd as spindle-a
// (ssh.Remote: the connection is made there, not here) and runs sudo to
// root on that connection; the password is asked at the root. The same
// target works without Via too (the root connects).
func TestVia_SudoOverSSHThroughIntermediate(t *testing.T) {
	u := sudotest.Setup(t)
	cli := sshAs(t, u.A)
	root := newRoot(t)
	hop := intermediate(t, root, "hop")
	remote, err := ssh.Remote(ssh.Options{Host: u.A.Name + "@" + cli.addr, ConfigFile: "none", Agent: "none",
		IdentityFiles: []string{cli.key}, KnownHostsFiles: []string{cli.knownHosts}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, via := range []spawn.Hop{hop, nil} {
		var n atomic.Int32
		tgt := mustSudo(t, remote, sudo.Options{Auth: sudo.Auth{Password: originPassword(u.A.Password, &n)}})
		p, err := startVia(t, root, via, tgt, cacheDir(t))
		if err != nil {
			t.Fatalf("via %v: %v", via, err)
		}
		if me := ask(t, root, p, 1<<16); me.Uid != 0 || n.Load() != 1 {
			t.Fatalf("via %v: uid %d, password asked %d times", via, me.Uid, n.Load())
		}
		if via != nil && p.Info().Via != hop.ID() {
			t.Fatalf("info %+v", p.Info())
		}
		stop(t, p)
	}
}

// AskTwice are the options of the test method "test.sudo.asktwice": a
// hostile intermediate that asks the origin's prompt Name twice.
type AskTwice struct{ Name string }

func init() {
	spawn.RegisterViaMethod("test.sudo.asktwice", func(ctx context.Context, _ *actors.Node, o *AskTwice) (spawn.Child, error) {
		var got []string
		for i := 0; i < 2; i++ {
			b, err := spawn.AskOrigin(ctx, o.Name)
			switch {
			case err == nil:
				got = append(got, "answer:"+strconv.Itoa(len(b)))
			case errors.Is(err, sudo.ErrBadPassword):
				got = append(got, "refused")
			default:
				got = append(got, "other:"+err.Error())
			}
		}
		return nil, errors.New("asked: " + strings.Join(got, ","))
	})
}

// TestVia_SudoPasswordAskedOnce: an intermediate that asks the origin's
// sudo password a second time in one start gets ErrBadPassword, and the
// callback at the root ran once.
func TestVia_SudoPasswordAskedOnce(t *testing.T) {
	root := newRoot(t)
	hop := intermediate(t, root, "hop")
	var n atomic.Int32
	tgt := mustSudo(t, &sudo.Host{}, sudo.Options{Auth: sudo.Auth{Password: originPassword("pw", &n)}})
	var p spawn.ViaPrompts
	if _, err := tgt.DescribeVia(&p); err != nil {
		t.Fatal(err)
	}
	ps := p.Prompts()
	if len(ps) != 1 {
		t.Fatalf("prompts %v", ps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := spawn.StartVia(ctx, root, hop, "test.sudo.asktwice", &AskTwice{Name: ps[0].Name}, ps...)
	if err == nil || !strings.Contains(err.Error(), "asked: answer:2,refused") || n.Load() != 1 {
		t.Fatalf("asked twice: %v; callback ran %d times", err, n.Load())
	}
}

// FuzzMakeTarget: descriptions of the sudo package's targets (and
// anything else) from the wire never panic MakeTarget.
func FuzzMakeTarget(f *testing.F) {
	var p spawn.ViaPrompts
	inner := mustSudo(f, &sudo.Host{Env: []string{"A=1"}}, sudo.Options{User: "x", PreserveEnv: []string{"A"}})
	tty, err := sudo.Su(&sudo.Host{}, sudo.SuOptions{User: "y"})
	if err != nil {
		f.Fatal(err)
	}
	for _, tg := range []spawn.ViaTarget{&sudo.Host{}, inner, mustSudo(f, inner, sudo.Options{}), tty} {
		spec, err := tg.DescribeVia(&p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(spec.Method, spec.Opts)
	}
	f.Add("doas", []byte{0x81, 0xa5, 'I', 'n', 'n', 'e', 'r', 0xc0})
	f.Fuzz(func(t *testing.T, method string, opts []byte) {
		_, _ = spawn.MakeTarget(context.Background(), spawn.TargetSpec{Method: method, Opts: opts})
	})
}
