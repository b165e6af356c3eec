//go:build linux

package actors_test

// Isolation: a child context that stops reading harms no other link. The
// children here are real processes (the test binary re-executed in a
// child role, see childRole), so that one can be SIGKILLed and one can be
// a hostile peer that speaks the wire protocol by hand.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// childRoleEnv names the role of a re-executed test binary.
const childRoleEnv = "ACTORS_TEST_CHILD_ROLE"

// Spray asks a "spray" actor to send N Pings of Size bytes to To/ID, then
// answer.
type Spray struct {
	To, ID  string
	N, Size int
}

// isoSetup is the setup of every context in these tests.
func isoSetup(n *actors.Node) error {
	if err := setups(typeSetup, newKinds().setup)(n); err != nil {
		return err
	}
	if err := actors.RegisterType[Spray](n, "test.Spray"); err != nil {
		return err
	}
	n.RegisterKind("spray", actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Spray); ok {
			to := actor.NewPID(m.To, m.ID)
			big := strings.Repeat("s", m.Size)
			for range m.N {
				c.Send(to, &Ping{Text: big})
			}
			c.Respond(&Pong{Text: "sprayed"})
		}
	}))
	return nil
}

// childRole runs the role a re-executed test binary was started in, and
// reports whether it was started in one (it then never returns).
func childRole() bool {
	switch os.Getenv(childRoleEnv) {
	case "":
		return false
	case "node":
		nodeChild()
	case "deaf":
		deafChild()
	}
	os.Exit(3)
	return true
}

// nodeChild is a well-behaved child context over stdin and stdout.
func nodeChild() {
	t := actors.Transport{R: os.Stdin, W: os.Stdout, C: stdio{}}
	cfg := actors.Config{Setup: isoSetup, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	n, err := actors.Join(context.Background(), cfg, t)
	if err != nil {
		os.Exit(2)
	}
	<-n.Stopping()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)
	os.Exit(0)
}

type stdio struct{}

func (stdio) Close() error { _, _ = os.Stdin.Close(), os.Stdout.Close(); return nil }

// deafChild completes the handshake and then never reads again, but keeps
// sending PINGs: its parent's reader hears from it, its parent's writer
// makes no progress.
func deafChild() {
	r := wire.NewReader(os.Stdin, 1<<20)
	f, err := r.ReadFrame()
	if err != nil {
		os.Exit(2)
	}
	hello, err := wire.ParseHello(f.Body())
	if err != nil {
		os.Exit(2)
	}
	if _, err := os.Stdout.Write(childHello(hello, hello.Name)); err != nil {
		os.Exit(2)
	}
	ping := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindPing, Dst: hello.ContextID,
		Src: hello.AssignedID, Auth: hello.AssignedID}, nil, nil)
	for {
		time.Sleep(50 * time.Millisecond)
		if _, err := os.Stdout.Write(ping); err != nil {
			os.Exit(0)
		}
	}
}

// proc is a child context in its own process.
type proc struct {
	cmd  *exec.Cmd
	link *actors.ChildLink
}

// startProc starts the test binary in role and attaches it to root as
// name. The process is killed and reaped when the test ends.
func startProc(t *testing.T, root *actors.Node, name, role string) *proc {
	t.Helper()
	toChildR, toChildW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromChildR, fromChildW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRoleEnv+"="+role, "GORACE=atexit_sleep_ms=0")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = toChildR, fromChildW, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, _ = toChildR.Close(), fromChildW.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	tr := actors.Transport{R: fromChildR, W: toChildW, C: pipeCloser{fromChildR, toChildW}}
	link, err := root.AttachChild(ctx, name, tr)
	if err != nil {
		t.Fatalf("attach %s (%s): %v", name, role, err)
	}
	return &proc{cmd: cmd, link: link}
}

type pipeCloser []io.Closer

func (cs pipeCloser) Close() error {
	for _, c := range cs {
		_ = c.Close()
	}
	return nil
}

// TestIsolation_StuckChildHarmsNoOne: a child that stops reading (but keeps
// sending heartbeats) fills the root's queue toward it. Then the root's
// SendContext and Request to it return by their deadlines, a second child
// that sprays messages at it keeps answering, a third child SIGKILLed is
// reported dead at once, and Shutdown returns by its deadline.
func TestIsolation_StuckChildHarmsNoOne(t *testing.T) {
	cfg := actors.Config{Setup: isoSetup, HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Minute}
	root := newRoot(t, cfg)
	stuck := startProc(t, root, "stuck", "deaf")
	good := startProc(t, root, "good", "node")
	victim := startProc(t, root, "victim", "node")
	stuckPID := actor.NewPID(actors.Address(stuck.link.ID), "anyone")

	taken := fillLink(t, root, stuckPID)
	t.Logf("the link to the stuck child took %d messages of 512 KiB before pushing back", taken)

	t.Run("SendContext returns by its deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := root.SendContext(ctx, stuckPID, &Ping{Text: strings.Repeat("y", 512<<10)})
		took := time.Since(start)
		t.Logf("SendContext with a 300ms deadline returned after %v: %v", took, err)
		if !errors.Is(err, context.DeadlineExceeded) || took > atOnce {
			t.Fatalf("SendContext = %v after %v, want DeadlineExceeded at about 300ms", err, took)
		}
	})
	t.Run("Request returns by its deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := root.Request(ctx, stuckPID, &Ping{Text: strings.Repeat("z", 256<<10)})
		took := time.Since(start)
		t.Logf("a 1s Request to the stuck child returned after %v: %v", took, err)
		if err == nil || took > 3*time.Second {
			t.Fatalf("Request = %v after %v, want an error at about 1s", err, took)
		}
	})
	t.Run("a sibling spraying the stuck child keeps working", func(t *testing.T) {
		spray := spawnRemote(t, root, good.link.ID, "spray", "")
		echo := spawnRemote(t, root, good.link.ID, "echo", "")
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		start := time.Now()
		msg := &Spray{To: actors.Address(stuck.link.ID), ID: "anyone", N: 200, Size: 64 << 10} // 12.5 MiB
		if _, err := actors.Request[*Pong](ctx, root, spray, msg); err != nil {
			t.Fatalf("spray: %v", err)
		}
		for i := range 20 {
			ping(t, root, echo, "still there")
			_ = i
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("the sibling's requests took %v", took)
		}
		t.Logf("sibling sprayed 12.5 MiB at the stuck child and answered 20 requests in %v", time.Since(start))
	})
	t.Run("a SIGKILLed sibling is reported dead at once", func(t *testing.T) {
		hole := spawnRemote(t, root, victim.link.ID, "blackhole", "")
		pending := requestAsync(root, hole, &Ping{Text: "?"}, ctxLong)
		time.Sleep(50 * time.Millisecond) // let the request leave
		killed := time.Now()
		if err := victim.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		out := recv(t, pending, waitLong, "the request to the killed child")
		took := time.Since(killed)
		t.Logf("IS_DEAD of the SIGKILLed sibling reached the root's request %v after the kill", took)
		deadError(t, out.err, actors.ErrContextDead)
		if took > time.Second {
			t.Fatalf("IS_DEAD took %v while another child is stuck", took)
		}
	})
	t.Run("Shutdown returns by its deadline", func(t *testing.T) {
		// Like a spawned child's hook: ask the child to stop, wait for it
		// until the deadline, then kill it.
		asked := make(chan time.Duration, 1)
		root.OnShutdown(func(ctx context.Context) error {
			start := time.Now()
			err := root.RequestShutdown(stuck.link.ID)
			asked <- time.Since(start)
			if err != nil {
				return err
			}
			select {
			case <-stuck.link.Done():
			case <-ctx.Done():
			}
			return stuck.cmd.Process.Kill()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		err := root.Shutdown(ctx)
		took := time.Since(start)
		t.Logf("Shutdown with a 3s deadline returned after %v: %v", took, err)
		if took > 5*time.Second {
			t.Fatalf("Shutdown took %v", took)
		}
		if d := recv(t, asked, atOnce, "RequestShutdown"); d > atOnce {
			t.Fatalf("RequestShutdown to the stuck child took %v: SHUTDOWN waited behind bulk", d)
		}
	})
}

// TestIsolation_StuckReaderDeclaredWriteStalled: a child that stops reading
// but keeps sending heartbeats is declared dead when the root's writer has
// made no progress for the heartbeat timeout, with a *WriteStallError, and
// the sender blocked on its full queue is released with ErrContextDead.
func TestIsolation_StuckReaderDeclaredWriteStalled(t *testing.T) {
	cfg := actors.Config{Setup: isoSetup, HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: time.Second}
	root := newRoot(t, cfg)
	downs := subscribeContextDown(t, root)
	stuck := startProc(t, root, "stuck", "deaf")
	stuckPID := actor.NewPID(actors.Address(stuck.link.ID), "anyone")
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		big := &Ping{Text: strings.Repeat("x", 512<<10)}
		for {
			if err := root.Send(stuckPID, big); err != nil {
				sendErr <- err
				return
			}
		}
	}()
	if !closedWithin(stuck.link.Done(), waitLong) {
		t.Fatal("the stuck link was never declared dead")
	}
	t.Logf("stuck link declared dead %v after the first send (heartbeat timeout 1s): %v", time.Since(start), stuck.link.Err())
	var we *actors.WriteStallError
	if err := stuck.link.Err(); !errors.As(err, &we) || !errors.Is(err, actors.ErrWriteStalled) {
		t.Fatalf("link reason %v (%T), want a *WriteStallError", err, err)
	}
	if we.Timeout != time.Second || we.Stall < we.Timeout || we.Peer != "stuck" {
		t.Fatalf("WriteStallError %+v", we)
	}
	if err := recv(t, sendErr, atOnce, "the blocked Send"); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("blocked Send returned %v, want ErrContextDead", err)
	}
	down := contextDownFor(t, downs, stuck.link.ID)
	if !errors.Is(down.Reason, actors.ErrWriteStalled) || !errors.As(down.Reason, &we) {
		t.Fatalf("ContextDown reason %v (%T), want a *WriteStallError", down.Reason, down.Reason)
	}
}
