package spawn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/wire"
)

// ViaAsk makes the context that runs it ask context Hop to start a local
// child (a hostile child's attempt when Hop is not its descendant).
type (
	ViaAsk struct {
		Hop    uint32
		Method string // "" for a start through spawn.Local; else this spindle.via method, raw
		ID     uint32
	}
	ViaAsked struct {
		Refused, NotFound bool
		Err               string
	}
)

// viaTestSetup registers, in every context, the function with which the
// tests make a context ask another one for a via start.
func viaTestSetup(n *actors.Node) error {
	ep, err := calls.New(n, calls.Config{})
	if err != nil {
		return err
	}
	// test.via.prompt asks the root's prompt service with a made-up token.
	err = calls.Handle(ep, "test.via.prompt", func(ctx context.Context, r *ViaAsk) (*ViaAsked, error) {
		_, err := calls.CallService[guessedPrompt, struct{ Answer []byte }](ctx, ep, r.Hop, "spindle.via.prompt", "ask",
			&guessedPrompt{Token: "AAAAAAAAAAAAAAAAAAAAAA", Name: "secret", Args: []string{"q"}})
		if err == nil {
			return &ViaAsked{}, nil
		}
		return &ViaAsked{Refused: errors.Is(err, calls.ErrRefused), Err: err.Error()}, nil
	})
	if err != nil {
		return err
	}
	return calls.Handle(ep, "test.via.ask", func(ctx context.Context, r *ViaAsk) (*ViaAsked, error) {
		if r.Method != "" {
			_, err := calls.CallService[struct{ ID uint32 }, struct{}](ctx, ep, r.Hop, "spindle.via", r.Method, &struct{ ID uint32 }{r.ID})
			if err == nil {
				return &ViaAsked{}, nil
			}
			return &ViaAsked{Refused: errors.Is(err, calls.ErrRefused), Err: err.Error()}, nil
		}
		c, err := spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: "smuggled", Via: spawn.ContextID(r.Hop)}})
		if err == nil {
			_ = c.Kill()
			return &ViaAsked{}, nil
		}
		return &ViaAsked{Refused: errors.Is(err, calls.ErrRefused), NotFound: errors.Is(err, calls.ErrNotFound), Err: err.Error()}, nil
	})
}

func viaLocal(t *testing.T, root *actors.Node, via spawn.Hop, name string) *spawn.Context {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second, Via: via}})
	if err != nil {
		t.Fatalf("start %s via %d: %v", name, via.ID(), err)
	}
	return c
}

// echoPid asks c's echo actor for its process ID.
func echoPid(t *testing.T, root *actors.Node, c spawn.Child) int {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	pid, err := c.Spawn(ctx, "echo", "")
	if err != nil {
		t.Fatalf("spawn echo in %s: %v", c.Name(), err)
	}
	pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 1})
	if err != nil {
		t.Fatalf("ping %s: %v", c.Name(), err)
	}
	return pong.Pid
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	p, _ := strconv.Atoi(f[1])
	return p
}

// TestVia_LocalChainOfThree: root -> a -> b -> c, b started through a and
// c through b (a via-child as the hop): each process is its hop's child,
// each is reached from the root, and Shutdown through the hops works.
func TestVia_LocalChainOfThree(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	c := viaLocal(t, root, b, "c")
	ctx := testCtx(t, 30*time.Second)
	for _, tc := range []struct {
		child  *spawn.Context
		parent int
		via    uint32
	}{{b, a.Pid(), a.ID()}, {c, b.Pid(), b.ID()}} {
		got := echoPid(t, root, tc.child)
		if got != tc.child.Pid() || ppid(t, got) != tc.parent {
			t.Fatalf("%s: process %d (handle says %d), parent %d; want parent %d", tc.child.Name(), got, tc.child.Pid(), ppid(t, got), tc.parent)
		}
		if info := tc.child.Info(); info.Via != tc.via || info.Method != "local" {
			t.Fatalf("%s: info %+v, want via %d", tc.child.Name(), info, tc.via)
		}
		if _, ok := root.Routes()[tc.child.ID()]; !ok {
			t.Fatalf("root has no route to %s (%d): %v", tc.child.Name(), tc.child.ID(), root.Routes())
		}
	}
	// Shutdown of the middle one takes its own child first.
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown b: %v", err)
	}
	for _, x := range []*spawn.Context{b, c} {
		<-x.Dead()
		if err := x.Wait(ctx); err != nil {
			t.Fatalf("wait %s: %v, want exit status 0", x.Name(), err)
		}
		if err := x.Signal(ctx, runner.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Fatalf("signal after the end of %s: %v", x.Name(), err)
		}
		if err := x.Kill(); err != nil {
			t.Fatalf("kill after the end: %v", err)
		}
	}
	if err := c.Shutdown(ctx); err != nil { // after its death: nothing to do
		t.Fatalf("shutdown of a dead c: %v", err)
	}
}

// TestVia_SignalAndExitStatus: a SIGKILL sent through the intermediate
// kills the child; the root sees it die with the status, and Wait and
// ExitStatus read 137, also when the intermediate has dropped the dead
// child for its recorded end (a later start sweeps it).
func TestVia_SignalAndExitStatus(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	ctx := testCtx(t, 30*time.Second)
	if err := b.Signal(ctx, runner.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.Dead()
	if !errors.Is(b.DeadReason(), actors.ErrContextDead) {
		t.Fatalf("dead reason %v", b.DeadReason())
	}
	_ = viaLocal(t, root, a, "b2")
	gaveUp, stop := context.WithCancel(ctx)
	stop()
	_ = b.Wait(gaveUp) // a caller that gave up: its error is not the answer
	code, ok := spawn.ExitStatus(b.Wait(ctx))
	if !ok || code != 137 {
		t.Fatalf("exit status %d, %v; want 137 (wait: %v)", code, ok, b.Wait(ctx))
	}
	if code, ok := spawn.ExitStatus(b.DeadReason()); !ok || code != 137 {
		t.Fatalf("dead reason %v: status %d, %v; want 137", b.DeadReason(), code, ok)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown after our own kill: %v", err)
	}
}

// TestVia_KillIntermediate: killing the intermediate raises IS_DEAD at
// the root for the contexts behind it, and they exit (no orphans), the
// one started with Pdeathsig and the one behind it.
func TestVia_KillIntermediate(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	c := viaLocal(t, root, b, "c")
	pids := []int{echoPid(t, root, b), echoPid(t, root, c)}
	ctx := testCtx(t, 30*time.Second)
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*spawn.Context{b, c} {
		select {
		case <-x.Dead():
		case <-ctx.Done():
			t.Fatalf("%s not declared dead", x.Name())
		}
		if !errors.Is(x.DeadReason(), actors.ErrContextDead) {
			t.Fatalf("%s: dead reason %v", x.Name(), x.DeadReason())
		}
		if err := x.Wait(ctx); err == nil {
			t.Fatalf("%s: Wait nil after its intermediate's death", x.Name())
		}
	}
	for _, p := range pids {
		for alive(p) {
			if ctx.Err() != nil {
				_ = syscall.Kill(p, syscall.SIGKILL)
				t.Fatalf("process %d outlived its killed intermediate", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Via: a}}); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("start via a dead context: %v, want ErrContextDead", err)
	}
}

// TestVia_HostileAsks: a child asking its parent to start a context, and
// a context asking its sibling, are refused with calls.ErrRefused before
// anything starts; only ancestors may ask.
func TestVia_HostileAsks(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	s, _ := startChild(t, root, "sibling", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	ctx := testCtx(t, 30*time.Second)
	ep := calls.Of(root)
	type hostile struct {
		name     string
		asker    spawn.Child
		hop      uint32
		method   string
		wantCode error
	}
	cases := []hostile{
		{"child asks its parent", b, a.ID(), "", calls.ErrRefused},
		{"sibling", s, a.ID(), "", calls.ErrRefused},
		{"sibling's via-child", s, b.ID(), "", calls.ErrRefused},
		{"child asks the root", a, root.ID(), "", calls.ErrNotFound}, // the root offers no via service
	}
	for _, m := range []string{"start", "wait", "signal", "kill", "shutdown", "abandon"} { // every op, raw, on b's own entry
		cases = append(cases, hostile{"child's raw " + m, b, a.ID(), m, calls.ErrRefused},
			hostile{"sibling's raw " + m, s, a.ID(), m, calls.ErrRefused})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(root.Routes())
			got, err := calls.Call[ViaAsk, ViaAsked](ctx, ep, tc.asker.ID(), "test.via.ask", &ViaAsk{Hop: tc.hop, Method: tc.method, ID: b.ID()})
			if err != nil {
				t.Fatal(err)
			}
			if (tc.wantCode == calls.ErrRefused && !got.Refused) || (tc.wantCode == calls.ErrNotFound && !got.NotFound) {
				t.Fatalf("asked %d from %s: %+v, want refused", tc.hop, tc.asker.Name(), got)
			}
			if got.Err == "" {
				t.Fatalf("asked %d from %s: started a context", tc.hop, tc.asker.Name())
			}
			if after := len(root.Routes()); after != before {
				t.Fatalf("routes %d -> %d: something started or stopped", before, after)
			}
		})
	}
	if echoPid(t, root, b) != b.Pid() { // the refused kills and shutdowns left b alone
		t.Fatal("b changed")
	}
}

// TestVia_StoppedIntermediateDeclaredDead: an intermediate that stops
// answering (SIGSTOP, as a cut link looks from the root) is declared dead
// by the heartbeat, and so is every context behind it, with the heartbeat
// as the cause; the stopped intermediate is killed, and the contexts
// behind it exit.
func TestVia_StoppedIntermediateDeclaredDead(t *testing.T) {
	logger := slogNew(newCapture())
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: logger,
		HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Shutdown(testCtx(t, 20*time.Second)) })
	a, _ := startChild(t, root, "a", spawn.Pipes)
	b := viaLocal(t, root, a, "b")
	c := viaLocal(t, root, b, "c")
	pids := []int{echoPid(t, root, b), echoPid(t, root, c)}
	ctx := testCtx(t, 30*time.Second)
	if err := a.Signal(ctx, runner.Signal("STOP")); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*spawn.Context{a, b, c} {
		select {
		case <-x.Dead():
		case <-ctx.Done():
			t.Fatalf("%s not declared dead", x.Name())
		}
		if !errors.Is(x.DeadReason(), actors.ErrHeartbeatTimeout) {
			t.Fatalf("%s: dead reason %v, want the heartbeat timeout", x.Name(), x.DeadReason())
		}
	}
	for _, p := range pids {
		for alive(p) {
			if ctx.Err() != nil {
				_ = syscall.Kill(p, syscall.SIGKILL)
				t.Fatalf("process %d outlived its stopped intermediate", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// guessedPrompt has the shape of the prompt service's request.
type guessedPrompt struct {
	Token, Name string
	Args        []string
}

// PromptedOpts are the options of the test method "test.prompted": it
// asks the origin's prompt "secret" and starts a local child only when the
// answer is Want.
type PromptedOpts struct{ Want string }

func init() {
	spawn.RegisterViaMethod("test.prompted", func(ctx context.Context, n *actors.Node, o *PromptedOpts) (spawn.Child, error) {
		answer, err := spawn.AskOrigin(ctx, "secret", "what is it?")
		if err != nil {
			return nil, err
		}
		if string(answer) != o.Want {
			return nil, fmt.Errorf("wrong answer %q", answer)
		}
		return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: "prompted"}})
	})
}

// TestVia_PromptAskedAtTheOrigin: a method's callback stays at the root
// and is asked from the intermediate while the start runs; a start
// without the prompt fails with ErrNoPrompt; a context that guesses a
// session (the hop itself, a sibling) is refused.
func TestVia_PromptAskedAtTheOrigin(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	s, _ := startChild(t, root, "sibling", spawn.Pipes)
	ctx := testCtx(t, 30*time.Second)
	var (
		mu    sync.Mutex
		asked []string
	)
	p, err := spawn.StartVia(ctx, root, a, "test.prompted", &PromptedOpts{Want: "s3cret"},
		spawn.ViaPrompt{Name: "secret", Ask: func(ctx context.Context, args []string) ([]byte, error) {
			caller, _ := calls.CallerOf(ctx)
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, fmt.Sprint(caller.ID, args))
			return []byte("s3cret"), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if want := fmt.Sprint(a.ID(), []string{"what is it?"}); len(asked) != 1 || asked[0] != want {
		t.Fatalf("asked %q, want once %q", asked, want)
	}
	mu.Unlock()
	if got := echoPid(t, root, p); ppid(t, got) != a.Pid() {
		t.Fatalf("prompted child %d is not the intermediate's child", got)
	}
	if _, err := spawn.StartVia(ctx, root, a, "test.prompted", &PromptedOpts{}); !errors.Is(err, spawn.ErrNoPrompt) {
		t.Fatalf("start without the prompt: %v, want ErrNoPrompt", err)
	}
	for _, asker := range []spawn.Child{a, s} {
		got, err := calls.Call[ViaAsk, ViaAsked](ctx, calls.Of(root), asker.ID(), "test.via.prompt", &ViaAsk{Hop: root.ID()})
		if err != nil || !got.Refused {
			t.Fatalf("%s guessing a prompt session: %+v, %v; want refused", asker.Name(), got, err)
		}
	}
}

// TestVia_ConcurrentStartsBehindOneIntermediate: starts behind one
// intermediate run at once (the service's pool); every child is reached
// from the root; killing the intermediate raises IS_DEAD for all of them
// in one update and leaves no process behind.
func TestVia_ConcurrentStartsBehindOneIntermediate(t *testing.T) {
	const n = 12
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	ctx := testCtx(t, 2*time.Minute)
	kids := make([]*spawn.Context, n)
	errs := make(chan error, n)
	for i := range kids {
		go func() {
			c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: fmt.Sprintf("k%d", i), Via: a}})
			kids[i] = c
			errs <- err
		}()
	}
	for range kids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	pids := make([]int, n)
	for i, c := range kids {
		pids[i] = echoPid(t, root, c)
		if ppid(t, pids[i]) != a.Pid() {
			t.Fatalf("%s runs under %d, want %d", c.Name(), ppid(t, pids[i]), a.Pid())
		}
	}
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, c := range kids {
		select {
		case <-c.Dead():
		case <-ctx.Done():
			t.Fatalf("%s not declared dead", c.Name())
		}
	}
	for _, p := range pids {
		for alive(p) {
			if ctx.Err() != nil {
				t.Fatalf("process %d outlived its killed intermediate", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// The shapes of spindle.via's start and abandon (msgpack by field name).
type (
	rawStart struct {
		Method string
		Opts   []byte
		Start  string
	}
	rawStarted struct {
		ID   uint32
		Info spawn.Info
	}
	rawAbandon struct{ Start string }
)

// TestVia_AbandonAfterAnswer: an origin that gave up on a start whose
// answer was already on its way names the start in an abandon, and the
// intermediate kills the child it had started (no child without a
// handle); an abandon of a name it does not know is no error.
func TestVia_AbandonAfterAnswer(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	ctx := testCtx(t, 30*time.Second)
	ep := calls.Of(root)
	opts, err := wire.Marshal(&spawn.Options{Common: spawn.Common{Name: "given-up"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := calls.CallService[rawStart, rawStarted](ctx, ep, a.ID(), "spindle.via", "start",
		&rawStart{Method: "local", Opts: opts, Start: "start-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ppid(t, got.Info.Pid) != a.Pid() {
		t.Fatalf("child %d not under the intermediate", got.Info.Pid)
	}
	for _, name := range []string{"start-1", "never-started"} {
		if _, err := calls.CallService[rawAbandon, struct{}](ctx, ep, a.ID(), "spindle.via", "abandon", &rawAbandon{Start: name}); err != nil {
			t.Fatalf("abandon %s: %v", name, err)
		}
	}
	for alive(got.Info.Pid) {
		if ctx.Err() != nil {
			t.Fatalf("abandoned child %d still runs", got.Info.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		if _, routed := root.Routes()[got.ID]; !routed {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("abandoned child %d still routed", got.ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
