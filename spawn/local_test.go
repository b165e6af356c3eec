package spawn_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/wire"
	"go.uber.org/goleak"
)

var links = []spawn.LinkKind{spawn.Pipes, spawn.SocketPair}

func TestLocal_RoundTrip(t *testing.T) {
	for _, link := range links {
		t.Run(link.String(), func(t *testing.T) {
			root := newRoot(t, nil)
			c, pid := startChild(t, root, "rt", link)
			ctx := testCtx(t, 10*time.Second)
			for i := 0; i < 100; i++ {
				pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i})
				if err != nil {
					t.Fatal(err)
				}
				if pong.N != i || pong.Pid != c.Pid() || pong.Context != "rt" {
					t.Fatalf("pong %+v, want N=%d from pid %d in rt", pong, i, c.Pid())
				}
			}
			if c.Pid() == os.Getpid() {
				t.Fatal("child runs in the test process")
			}
		})
	}
}

func TestLocal_LargePayload(t *testing.T) {
	root := newRoot(t, nil)
	_, pid := startChild(t, root, "big", spawn.Pipes)
	payload := make([]byte, 4<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	pong, err := actors.Request[*Pong](testCtx(t, 10*time.Second), root, pid, &Ping{Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	if string(pong.Payload) != string(payload) {
		t.Fatal("payload changed on the way")
	}
}

func TestLocal_OneWayOrderAndCount(t *testing.T) {
	root := newRoot(t, nil)
	c, _ := startChild(t, root, "count", spawn.Pipes)
	ctx := testCtx(t, 20*time.Second)
	pid, err := c.Spawn(ctx, "counter", "counter")
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	for i := 0; i < n; i++ {
		if err := root.Send(pid, &Count{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := actors.Request[*Counted](ctx, root, pid, &GetCount{})
	if err != nil {
		t.Fatal(err)
	}
	if got.N != n {
		t.Fatalf("counter saw %d messages, want %d", got.N, n)
	}
}

func TestLocal_SIGKILLFailsRequestAndWatch(t *testing.T) {
	for _, link := range links {
		t.Run(link.String(), func(t *testing.T) {
			root := newRoot(t, nil)
			victim, pid := startChild(t, root, "victim", link)
			watched := make(chan *actor.Terminated, 1)
			root.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
				switch m := c.Message().(type) {
				case *actor.Started:
					c.Watch(pid)
				case *actor.Terminated:
					watched <- m
				}
			}))
			ctx := testCtx(t, 30*time.Second)
			// Make sure the watch reached the child before killing it.
			if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
				t.Fatal(err)
			}
			failed := make(chan error, 1)
			go func() {
				_, err := actors.Request[*Pong](ctx, root, pid, &Ping{Delay: time.Minute})
				failed <- err
			}()
			time.Sleep(20 * time.Millisecond) // let the request leave
			killed := time.Now()
			if err := victim.Signal(context.Background(), runner.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-failed:
				if !errors.Is(err, actors.ErrContextDead) {
					t.Fatalf("request error %v, want ErrContextDead", err)
				}
				var de *actors.DeadError
				if !errors.As(err, &de) || !strings.Contains(de.Reason, "SIGKILL") {
					t.Fatalf("reason %q does not name SIGKILL", de.Reason)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("pending request still waiting 2s after SIGKILL")
			}
			select {
			case m := <-watched:
				if m.Why != actor.TerminatedReason_AddressTerminated || m.Who.Id != pid.Id {
					t.Fatalf("Terminated %v, want AddressTerminated of %v", m, pid)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("no Terminated 2s after SIGKILL")
			}
			t.Logf("request failed within %v of SIGKILL", time.Since(killed))
			// Later sends fail at once, with the same reason.
			start := time.Now()
			_, err := actors.Request[*Pong](ctx, root, pid, &Ping{})
			if !errors.Is(err, actors.ErrContextDead) || time.Since(start) > time.Second {
				t.Fatalf("request after death: %v after %v", err, time.Since(start))
			}
			if err := root.Send(pid, &Ping{}); !errors.Is(err, actors.ErrContextDead) {
				t.Fatalf("send after death: %v", err)
			}
			if werr := victim.Wait(ctx); werr == nil {
				t.Fatal("Wait returned nil for a killed child")
			}
		})
	}
}

// TestLocal_ParentSIGKILLLeavesNoOrphans: a root (this test binary, run
// as a real intermediate process) starts two children and is SIGKILLed;
// both children are gone within 2 s.
func TestLocal_ParentSIGKILLLeavesNoOrphans(t *testing.T) {
	orphanTest(t, "SPINDLE_TEST_NO_PDEATHSIG=0")
}

// TestLocal_ParentSIGKILLWithoutPdeathsig: the same with Pdeathsig off,
// as on darwin and the BSDs, which have none: the children exit on their
// link's EOF alone (the kernel closes the dead parent's pipe ends).
func TestLocal_ParentSIGKILLWithoutPdeathsig(t *testing.T) {
	orphanTest(t, "SPINDLE_TEST_NO_PDEATHSIG=1")
}

func orphanTest(t *testing.T, env string) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SPINDLE_TEST_ROLE=orphan-parent", env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("parent said nothing: %v", err)
	}
	var a, b int
	if _, err := fmt.Sscanf(line, "PIDS %d %d", &a, &b); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("parent said %q", line)
	}
	for _, p := range []int{a, b} {
		if !alive(p) {
			t.Fatalf("child %d not running before the parent is killed", p)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && (alive(a) || alive(b)) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range []int{a, b} {
		if alive(p) {
			_ = syscall.Kill(p, syscall.SIGKILL)
			t.Errorf("child %d still alive 2s after its parent was killed", p)
		}
	}
}

// alive reports whether pid runs (a zombie counts as dead).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestLocal_GarbageClosesOnlyThatLink(t *testing.T) {
	for _, link := range links {
		t.Run(link.String(), func(t *testing.T) {
			root := newRoot(t, nil)
			bad, _ := startChild(t, root, "bad", link)
			_, goodPID := startChild(t, root, "good", link)
			ctx := testCtx(t, 10*time.Second)
			sab, err := bad.Spawn(ctx, "saboteur", "saboteur")
			if err != nil {
				t.Fatal(err)
			}
			if err := root.Send(sab, &Garble{}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-bad.Dead():
			case <-time.After(5 * time.Second):
				t.Fatal("link still up after garbage")
			}
			var pe *actors.ProtocolError
			if !errors.As(bad.DeadReason(), &pe) {
				t.Fatalf("reason %v, want a protocol error", bad.DeadReason())
			}
			if !strings.Contains(bad.DeadReason().Error(), "protocol error") {
				t.Fatalf("reason %q does not say protocol error", bad.DeadReason())
			}
			// The bad child exits on its own once its parent link closes.
			if err := bad.Wait(ctx); err != nil {
				t.Fatalf("bad child exit: %v", err)
			}
			if _, err := actors.Request[*Pong](ctx, root, goodPID, &Ping{N: 7}); err != nil {
				t.Fatalf("other child broken by the garbage: %v", err)
			}
		})
	}
}

func TestLocal_SpoofedSourceDropped(t *testing.T) {
	root := newRoot(t, nil)
	liar, _ := startChild(t, root, "liar", spawn.Pipes)
	honest, _ := startChild(t, root, "honest", spawn.Pipes)
	ctx := testCtx(t, 10*time.Second)
	counterPID, err := honest.Spawn(ctx, "counter", "counter")
	if err != nil {
		t.Fatal(err)
	}
	sab, err := liar.Spawn(ctx, "saboteur", "saboteur")
	if err != nil {
		t.Fatal(err)
	}
	// The liar sends a frame to the honest child claiming to be the root.
	if _, err := actors.Request[*Pong](ctx, root, sab, &SpoofTo{Dst: honest.ID()}); err != nil {
		t.Fatal(err)
	}
	// A request through the liar's link afterwards proves the spoofed frame
	// was read (links are FIFO) before we look at the counter.
	if _, err := actors.Request[*Pong](ctx, root, sab, &SpoofTo{Dst: 12345}); err != nil {
		t.Fatal(err)
	}
	got, err := actors.Request[*Counted](ctx, root, counterPID, &GetCount{})
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 0 {
		t.Fatalf("honest counter received %d spoofed messages", got.N)
	}
	select {
	case <-liar.Dead():
		t.Fatalf("spoofing closed the link (%v); it should only drop the frame", liar.DeadReason())
	default:
	}
}

func TestLocal_UnregisteredTypeFailsAtSender(t *testing.T) {
	root := newRoot(t, nil)
	_, pid := startChild(t, root, "strict", spawn.Pipes)
	err := root.Send(pid, &NotRegistered{X: 1})
	if !errors.Is(err, wire.ErrUnregistered) || !strings.Contains(err.Error(), "NotRegistered") {
		t.Fatalf("send error %v, want ErrUnregistered naming the type", err)
	}
	_, err = actors.Request[*Pong](testCtx(t, 5*time.Second), root, pid, &NotRegistered{X: 1})
	if !errors.Is(err, wire.ErrUnregistered) {
		t.Fatalf("request error %v, want ErrUnregistered", err)
	}
}

func TestLocal_DepthTwoRouting(t *testing.T) {
	root := newRoot(t, nil)
	child, _ := startChild(t, root, "middle", spawn.Pipes)
	ctx := testCtx(t, 20*time.Second)
	sp, err := child.Spawn(ctx, "spawner", "spawner")
	if err != nil {
		t.Fatal(err)
	}
	gk, err := actors.Request[*Grandkid](ctx, root, sp, &SpawnGrandkid{})
	if err != nil {
		t.Fatal(err)
	}
	if gk.Err != "" {
		t.Fatal(gk.Err)
	}
	target := actor.NewPID(gk.Address, gk.ID)
	id, _ := actors.ContextOf(target)
	if id == child.ID() || id == root.ID() {
		t.Fatalf("grandchild has context %d", id)
	}
	if _, ok := root.Routes()[id]; !ok {
		t.Fatalf("root has no route to the grandchild %d: %v", id, root.Routes())
	}
	for i := 0; i < 50; i++ {
		pong, err := actors.Request[*Pong](ctx, root, target, &Ping{N: i})
		if err != nil {
			t.Fatal(err)
		}
		if pong.Pid != gk.Pid || pong.Context != "grandchild" {
			t.Fatalf("pong from %d/%s, want grandchild %d", pong.Pid, pong.Context, gk.Pid)
		}
	}
	// Killing the grandchild fails the root's pending request (DEL_ROUTE
	// travels up through the middle context).
	failed := make(chan error, 1)
	go func() {
		_, err := actors.Request[*Pong](ctx, root, target, &Ping{Delay: time.Minute})
		failed <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := syscall.Kill(gk.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failed:
		if !errors.Is(err, actors.ErrContextDead) {
			t.Fatalf("got %v, want ErrContextDead", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("request to the killed grandchild still pending after 2s")
	}
	// The middle context still works.
	if _, err := actors.Request[*Pong](ctx, root, actor.NewPID(child.Address(), "echo"), &Ping{}); err != nil {
		t.Fatal(err)
	}
}

func TestLocal_LogAndStderrForwarding(t *testing.T) {
	capt := newCapture()
	root := newRoot(t, sloggerOf(capt))
	c, pid := startChild(t, root, "chatty", spawn.Pipes)
	if _, err := actors.Request[*Pong](testCtx(t, 5*time.Second), root, pid, &LogHello{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	var logAttrs, errAttrs map[string]string
	for time.Now().Before(deadline) {
		logAttrs, _ = capt.find("hello from child")
		errAttrs, _ = capt.find("child stderr")
		if logAttrs != nil && errAttrs != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if logAttrs["ctx"] != "chatty" || logAttrs["ctx_id"] != fmt.Sprint(c.ID()) || logAttrs["text"] != "hi" {
		t.Fatalf("forwarded record attrs %v", logAttrs)
	}
	if errAttrs["line"] != "raw stderr line: hi" {
		t.Fatalf("stderr record attrs %v", errAttrs)
	}
}

func TestLocal_ShutdownIsGracefulAndIdempotent(t *testing.T) {
	root := newRoot(t, nil)
	ctx := testCtx(t, 30*time.Second)
	// A long grace: the child must leave on SHUTDOWN, not on SIGTERM.
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "polite", Grace: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("exit status %v, want 0 (a child that honours SHUTDOWN exits by itself)", err)
	}
	if alive(c.Pid()) {
		t.Fatal("child alive after Shutdown")
	}
}

func TestLocal_BadExecutableFailsFast(t *testing.T) {
	root := newRoot(t, nil)
	ctx := testCtx(t, 10*time.Second)
	start := time.Now()
	_, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "false"}, Executable: "/bin/false"})
	if err == nil {
		t.Fatal("spawning /bin/false succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("failure took %v", time.Since(start))
	}
	if !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("error %q does not carry the exit status", err)
	}
}

func TestLocal_NoGoroutineLeakAfterShutdown(t *testing.T) {
	opts := goleak.IgnoreCurrent()
	func() {
		root, err := actors.NewNode(actors.Config{Setup: setup, Logger: sloggerOf(newCapture())})
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t, 20*time.Second)
		for i := 0; i < 2; i++ {
			c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: fmt.Sprintf("leak-%d", i)}})
			if err != nil {
				t.Fatal(err)
			}
			pid, err := c.Spawn(ctx, "echo", "echo")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := root.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	goleak.VerifyNone(t, opts)
}

func sloggerOf(h capture) *slogLogger { return slogNew(h) }

var _ = context.Background
