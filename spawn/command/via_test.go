package command_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
)

// parentOf reads a process's parent from /proc.
func parentOf(t *testing.T, pid int) int {
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

// running reports whether pid runs (a zombie counts as gone).
func running(pid int) bool {
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

// TestVia_CommandThroughIntermediate: the bootstrap runs in a local
// intermediate (the prefix `env` is its child, and execs the context),
// the root reaches the context directly, Shutdown goes through the
// intermediate; then killing the intermediate raises IS_DEAD at the root
// for the context behind it, whose process exits (no orphan).
func TestVia_CommandThroughIntermediate(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	opts := command.Options{Common: spawn.Common{Name: "inner", Grace: time.Second, Via: a}, Argv: []string{"env"},
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute}}
	var kids []*spawn.Process
	for i := 0; i < 2; i++ {
		p, err := command.Start(ctx, root, opts)
		if err != nil {
			t.Fatalf("start %d via the bastion: %v", i, err)
		}
		kids = append(kids, p)
		h := where(t, ctx, root, p)
		if got := parentOf(t, h.Pid); got != a.Pid() || h.Pid != p.Info().Pid {
			t.Fatalf("context runs as %d (info %d) under %d, want under the bastion %d", h.Pid, p.Info().Pid, got, a.Pid())
		}
		if info := p.Info(); info.Via != a.ID() || info.Method != "command" || info.Boot.CacheHit != (i == 1) {
			t.Fatalf("start %d: info %+v", i, info)
		}
	}
	if err := kids[0].Shutdown(ctx); err != nil {
		t.Fatalf("shutdown through the bastion: %v", err)
	}
	if err := kids[0].Wait(ctx); err != nil {
		t.Fatalf("wait: %v, want exit status 0", err)
	}
	survivor := where(t, ctx, root, kids[1]).Pid
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kids[1].Dead():
	case <-ctx.Done():
		t.Fatal("the context behind the killed bastion was not declared dead")
	}
	if !errors.Is(kids[1].DeadReason(), actors.ErrContextDead) {
		t.Fatalf("dead reason %v", kids[1].DeadReason())
	}
	for running(survivor) {
		if ctx.Err() != nil {
			_ = syscall.Kill(survivor, syscall.SIGKILL)
			t.Fatalf("process %d outlived its killed bastion", survivor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestVia_TypedStartErrors: a start that fails on the intermediate keeps
// its sentinel across the hop (a cache directory that cannot exist is
// ErrNoExecDir; a prefix that is not installed, exec.ErrNotFound).
func TestVia_TypedStartErrors(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts command.Options
		want error
	}{
		{"no exec dir", command.Options{Argv: []string{"env"}, Bootstrap: spawn.Bootstrap{CacheDirs: []string{"/proc/spindle-cannot-exist"}}}, spawn.ErrNoExecDir},
		{"no such prefix", command.Options{Argv: []string{"spindle-no-such-prefix"}}, exec.ErrNotFound},
		{"prefix path missing", command.Options{Argv: []string{"/nonexistent/spindle-prefix"}}, fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Via = a
			_, err := command.Start(ctx, root, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if n := len(root.Routes()); n != 1 {
		t.Fatalf("root routes %v after failed starts, want the bastion alone", root.Routes())
	}
}

// childrenOf lists the processes whose parent is pid and that still run.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			kids = append(kids, p)
		}
	}
	return kids
}

// TestVia_CallerGivesUp: when the root's ctx ends while the intermediate
// is still starting (a prefix that never runs the bootstrap), the start
// fails with the ctx's error at the root, and the intermediate leaves no
// process of it behind.
func TestVia_CallerGivesUp(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion", Grace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond) // ends during the start: the trigger, not a bound
	defer stop()
	_, err = command.Start(short, root, command.Options{Common: spawn.Common{Via: a},
		Argv: []string{"sh", "-c", "sleep 1000", "hang"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	for kids := childrenOf(t, a.Pid()); len(kids) > 0; kids = childrenOf(t, a.Pid()) {
		if ctx.Err() != nil {
			t.Fatalf("the bastion still runs %v after the start was given up", kids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(root.Routes()); n != 1 {
		t.Fatalf("root routes %v, want the bastion alone", root.Routes())
	}
}
