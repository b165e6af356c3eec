// Command supervision runs a pool of three worker contexts under a
// one-for-one supervisor, breaks them on purpose (SIGKILL, then SIGSTOP,
// which only the link heartbeat can notice) and prints a timeline of the
// failures and restarts the supervisor reports, asking every worker for its
// process ID after each step. It then shuts down cleanly and exits 0.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/supervision"
)

// Hello asks a worker who it is; Hi answers.
type (
	Hello struct{}
	Hi    struct {
		Context string
		Pid     int
	}
)

func setup(n *actors.Node) error {
	if err := actors.RegisterType[Hello](n, "supervision.Hello"); err != nil {
		return err
	}
	if err := actors.RegisterType[Hi](n, "supervision.Hi"); err != nil {
		return err
	}
	n.RegisterKind("worker", actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*Hello); ok {
			c.Respond(&Hi{Context: n.Name(), Pid: os.Getpid()})
		}
	}))
	return nil
}

func main() {
	spawn.Main(setup) // in a worker process: serve the context, never return
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supervision:", err)
		os.Exit(1)
	}
}

// timeline prints events with the time since the start.
type timeline struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func (t *timeline) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "%7.3fs  "+format+"\n", append([]any{time.Since(t.start).Seconds()}, args...)...)
}

func run(out io.Writer) error {
	tl := &timeline{out: out, start: time.Now()}
	node, err := actors.NewNode(actors.Config{
		Name:   "root",
		Setup:  setup,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), // the timeline tells the story
		// A stopped process sends nothing: declare it dead after 500ms.
		HeartbeatInterval: 100 * time.Millisecond,
		HeartbeatTimeout:  500 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer node.Shutdown(context.Background())

	sub := node.System().EventStream.Subscribe(func(ev any) {
		switch e := ev.(type) {
		case *supervision.ChildFailed:
			tl.printf("%s (ctx %d) failed: %s\n%9s-> restart %d of 5 allowed in 10s, after a %v backoff",
				e.Child, e.ID, e.Reason, "", e.Restarts, e.Delay.Round(time.Millisecond))
		case *supervision.ChildRestarted:
			tl.printf("%s restarted as ctx %d (was ctx %d)", e.Child, e.ID, e.OldID)
		case *supervision.SupervisorGaveUp:
			tl.printf("supervisor gave up: %v", e.Err)
		}
	})
	defer node.System().EventStream.Unsubscribe(sub)

	startWorker := func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
		return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name}})
	}
	var children []supervision.ContextSpec
	for _, name := range []string{"worker-1", "worker-2", "worker-3"} {
		children = append(children, supervision.ContextSpec{Name: name, Start: startWorker,
			Actors: []supervision.ActorSpec{{Kind: "worker", Name: "w"}}})
	}
	sup, err := supervision.Start(context.Background(), node, supervision.Config{
		Name:     "pool",
		Children: children,
		Policy:   supervision.Policy{Strategy: supervision.OneForOne, MaxRestarts: 5, Period: 10 * time.Second},
	})
	if err != nil {
		return err
	}
	tl.printf("supervisor %q started: one_for_one, at most 5 restarts in 10s", "pool")
	if err := waitUp(sup, 10*time.Second); err != nil {
		return err
	}
	if err := roll(tl, node, sup); err != nil {
		return err
	}

	steps := []struct {
		child string
		sig   syscall.Signal
		what  string
	}{
		{"worker-2", syscall.SIGKILL, "the link closes, IS_DEAD at once"},
		{"worker-3", syscall.SIGSTOP, "alive but silent; only the heartbeat can tell"},
		{"worker-2", syscall.SIGKILL, "again, its new incarnation this time"},
	}
	for _, st := range steps {
		ci, _ := sup.Child(st.child)
		tl.printf("sending %s to %s (ctx %d, pid %d): %s", sigName[st.sig], st.child, ci.ID, ci.Context.(*spawn.Context).Pid(), st.what)
		if err := ci.Context.Signal(context.Background(), runner.Signal(strings.TrimPrefix(sigName[st.sig], "SIG"))); err != nil {
			return err
		}
		if err := waitRestarted(sup, st.child, ci.ID, 10*time.Second); err != nil {
			return err
		}
		if err := roll(tl, node, sup); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sup.Stop(ctx); err != nil {
		return err
	}
	tl.printf("supervisor stopped: every worker shut down (err: %v)", sup.Err())
	if err := node.Shutdown(ctx); err != nil {
		return err
	}
	tl.printf("clean shutdown")
	return nil
}

var sigName = map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGSTOP: "SIGSTOP"}

// roll asks every worker who it is.
func roll(tl *timeline, node *actors.Node, sup *supervision.Supervisor) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	line := ""
	for _, ci := range sup.Children() {
		hi, err := actors.Request[*Hi](ctx, node, ci.PIDs["w"], &Hello{})
		if err != nil {
			return fmt.Errorf("%s: %w", ci.Name, err)
		}
		line += fmt.Sprintf("  %s=ctx %d/pid %d", hi.Context, ci.ID, hi.Pid)
	}
	tl.printf("roll call:%s", line)
	return nil
}

func waitUp(sup *supervision.Supervisor, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return sup.WaitUp(ctx)
}

func waitRestarted(sup *supervision.Supervisor, name string, oldID uint32, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ci, _ := sup.Child(name); ci.Up && ci.ID != oldID {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s was not restarted within %v", name, d)
}
