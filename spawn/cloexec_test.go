package spawn_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn/runner"
)

// forker starts "sleep 60" in a process group of its own (as
// actors/command does) and answers with its PID; the sleep is not reaped.
type forker struct{}

func (forker) Receive(c actor.Context) {
	if _, ok := c.Message().(*Ping); !ok {
		return
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.Respond(&Pong{N: -1})
		return
	}
	c.Respond(&Pong{Pid: cmd.Process.Pid})
}

func forkerSetup(n *actors.Node) {
	n.RegisterKind("forker", actor.PropsFromProducer(func() actor.Actor { return forker{} }))
}

// TestLocal_CommandsDoNotHoldTheLink: a command that a local context
// starts must not inherit the context's link. If it did, the parent would
// see the link end only when the command exits, and the context's death
// (SIGKILL here) would reach the parent 60 s late instead of at once.
func TestLocal_CommandsDoNotHoldTheLink(t *testing.T) {
	for _, link := range links {
		t.Run(link.String(), func(t *testing.T) {
			// Descriptors this test process inherited from whoever started
			// it reach every process; they are not the link.
			before := map[string]bool{}
			for _, name := range streams(t, os.Getpid()) {
				before[name] = true
			}
			root := newRoot(t, nil)
			child, _ := startChild(t, root, "forking", link)
			ctx := testCtx(t, 30*time.Second)
			pid, err := child.Spawn(ctx, "forker", "f")
			if err != nil {
				t.Fatal(err)
			}
			pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{})
			if err != nil || pong.Pid <= 0 {
				t.Fatalf("forker: %+v, %v", pong, err)
			}
			sleeper := pong.Pid
			t.Cleanup(func() { _ = syscall.Kill(sleeper, syscall.SIGKILL) })
			// The command holds none of the context's pipes or sockets but
			// its stderr (which the context gives every command it does not
			// redirect): no descriptor of the link.
			held := map[string]bool{}
			for _, name := range streams(t, sleeper) {
				held[name] = true
			}
			for fd, name := range streams(t, child.Info().Pid) {
				if fd > 2 && held[name] && !before[name] {
					t.Errorf("the command holds the context's fd %d (%s)", fd, name)
				}
			}
			killed := time.Now()
			if err := child.Signal(ctx, runner.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case <-child.Dead():
			case <-time.After(20 * time.Second):
				t.Fatal("no IS_DEAD 20 s after SIGKILL: the command holds the link open")
			}
			t.Logf("IS_DEAD %v after SIGKILL", time.Since(killed))
			if err := syscall.Kill(sleeper, 0); err != nil {
				t.Fatalf("the sleep is gone (%v): the test proved nothing", err)
			}
			if !errors.Is(child.DeadReason(), actors.ErrContextDead) && child.DeadReason() == nil {
				t.Fatal("dead without a reason")
			}
		})
	}
}

// streams maps the pipe and socket descriptors of process pid to their
// names ("pipe:[123]").
func streams(t *testing.T, pid int) map[int]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fds := map[int]string{}
	for _, e := range ents {
		fd, err1 := strconv.Atoi(e.Name())
		name, err2 := os.Readlink(filepath.Join(dir, e.Name()))
		if err1 == nil && err2 == nil && (strings.HasPrefix(name, "pipe:") || strings.HasPrefix(name, "socket:")) {
			fds[fd] = name
		}
	}
	return fds
}
