// Command bastion starts a chain of contexts, each through the one before
// it (Mitogen's via=): the root starts "bastion" (a local process), asks
// the bastion to start "inner" through a command prefix (the bootstrap
// runs on the bastion, which uploads its own binary), and asks "inner" to
// start "app" (a local process there). The root talks to "app" directly;
// each process is the child of the one before it. Then it kills the
// bastion and shows IS_DEAD reaching the root for everything behind it,
// and no process left. In a real deployment the command prefix is
// `ssh inner-host` or `sudo -u app`, and the bastion is reached with
// spawn/ssh (docs/via.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
)

// Where asks a context's "where" actor about its process.
type Where struct{}

// Here is its answer.
type Here struct {
	Context   string
	Pid, PPid int
}

func setup(n *actors.Node) error {
	if err := actors.RegisterType[Where](n, "bastion.Where"); err != nil {
		return err
	}
	if err := actors.RegisterType[Here](n, "bastion.Here"); err != nil {
		return err
	}
	n.RegisterKind("where", actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*Where); ok {
			c.Respond(&Here{Context: n.Name(), Pid: os.Getpid(), PPid: os.Getppid()})
		}
	}))
	return nil
}

func main() {
	spawn.Main(setup)
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bastion:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return err
	}
	defer root.Shutdown(context.Background())
	cache, err := os.MkdirTemp("", "spindle-bastion-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)

	bastion, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion"}})
	if err != nil {
		return err
	}
	inner, err := command.Start(ctx, root, command.Options{
		Common:    spawn.Common{Name: "inner", Via: bastion}, // started by the bastion
		Argv:      []string{"env"},                           // e.g. ssh inner-host, sudo -u app
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{cache}},
	})
	if err != nil {
		return err
	}
	app, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "app", Via: inner}})
	if err != nil {
		return err
	}
	var pids []int
	for _, c := range []spawn.Child{bastion, inner, app} {
		h, err := where(ctx, root, c)
		if err != nil {
			return err
		}
		by := "the root"
		if v := c.Info().Via; v != 0 {
			by = fmt.Sprintf("ctx-%d", v)
		}
		fmt.Fprintf(out, "%-8s ctx-%d  pid %d  parent %d  started by %s\n", h.Context, c.ID(), h.Pid, h.PPid, by)
		pids = append(pids, h.Pid)
	}
	fmt.Fprintln(out, "chain:", pids[1] != pids[0] && parentOf(pids[1]) == pids[0] && parentOf(pids[2]) == pids[1])

	fmt.Fprintln(out, "killing the bastion")
	if err := bastion.Kill(); err != nil {
		return err
	}
	for _, c := range []spawn.Child{inner, app} {
		select {
		case <-c.Dead():
		case <-ctx.Done():
			return fmt.Errorf("%s not declared dead", c.Name())
		}
		fmt.Fprintf(out, "%s: errors.Is(reason, actors.ErrContextDead) = %v\n", c.Name(), errors.Is(c.DeadReason(), actors.ErrContextDead))
	}
	for _, p := range pids {
		for running(p) {
			if ctx.Err() != nil {
				return fmt.Errorf("process %d left behind", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	fmt.Fprintln(out, "no process left")
	return nil
}

func where(ctx context.Context, root *actors.Node, c spawn.Child) (*Here, error) {
	pid, err := c.Spawn(ctx, "where", "")
	if err != nil {
		return nil, err
	}
	return actors.Request[*Here](ctx, root, pid, &Where{})
}

// stat returns the fields of /proc/PID/stat after the command name.
func stat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

func parentOf(pid int) int {
	f := stat(pid)
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// running reports whether pid runs (a zombie counts as gone).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	f := stat(pid)
	return len(f) > 0 && f[0] != "Z"
}
