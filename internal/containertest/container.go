package containertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RunOptions configures a detached test container. The zero value runs
// `sleep` as pid 1 with the engine's defaults.
type RunOptions struct {
	Name     string   // container name; default "spindle-test-" + random hex
	Hostname string   // --hostname; default the engine's (the short ID)
	Args     []string // more `run` options (--read-only, --tmpfs /tmp:noexec, -u 1000, ...)
	Cmd      []string // pid 1; default ["sleep", "1000000"]
}

// Container is a running test container, removed (`rm -f`) when the test
// that started it ends.
type Container struct {
	ID   string
	Name string
	e    *Engine
}

// Run starts a detached container from image and registers its removal
// with t.Cleanup.
func (e *Engine) Run(t testing.TB, image string, o RunOptions) *Container {
	t.Helper()
	if o.Name == "" {
		o.Name = RandomName("spindle-test-")
	}
	c := &Container{Name: o.Name, e: e}
	t.Cleanup(func() { c.Remove() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started, err := e.Start(ctx, image, o)
	if err != nil {
		t.Fatal(err)
	}
	c.ID = started.ID
	return c
}

// Start is Run for programs that are not tests: the caller removes the
// container (Remove).
func (e *Engine) Start(ctx context.Context, image string, o RunOptions) (*Container, error) {
	if o.Name == "" {
		o.Name = RandomName("spindle-test-")
	}
	if len(o.Cmd) == 0 {
		o.Cmd = []string{"sleep", "1000000"}
	}
	args := []string{"run", "-d", "--label", Label + "=1", "--name", o.Name}
	if o.Hostname != "" {
		args = append(args, "--hostname", o.Hostname)
	}
	args = append(args, e.RunDefaults()...)
	args = append(args, o.Args...)
	args = append(append(args, image), o.Cmd...)
	id, err := run(ctx, nil, e.Path, args...)
	if err != nil {
		return nil, err
	}
	return &Container{ID: id, Name: o.Name, e: e}, nil
}

// RunDefaults are the `run` options every container of this engine needs
// on this machine. For podman: rlimits no higher than this process's own,
// because podman's defaults (nofile 1048576, nproc 4194304) cannot be set
// inside a sandbox that caps them ("error setting rlimit type 7").
func (e *Engine) RunDefaults() []string {
	if e.CLI != "podman" {
		return nil
	}
	lim := func(res int, cap uint64) string {
		var r syscall.Rlimit
		v := cap
		if syscall.Getrlimit(res, &r) == nil && uint64(r.Max) < v { // int64 on freebsd
			v = uint64(r.Max)
		}
		s := strconv.FormatUint(v, 10)
		return s + ":" + s
	}
	const rlimitNproc = 6
	return []string{"--ulimit", "nofile=" + lim(syscall.RLIMIT_NOFILE, 4096), "--ulimit", "nproc=" + lim(rlimitNproc, 4096)}
}

// Container returns a handle on the container called name (or with that
// ID), for State and Remove; it need not exist.
func (e *Engine) Container(name string) *Container { return &Container{ID: name, Name: name, e: e} }

// Remove removes the container whatever its state; it is safe to call
// more than once.
func (c *Container) Remove() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"rm", "-f", c.Name}
	if c.e.CLI == "podman" {
		args = []string{"rm", "-f", "-t", "0", c.Name}
	}
	_, _ = run(ctx, nil, c.e.Path, args...)
}

// State returns the container's state ("running", "exited", ...), or ""
// when the engine does not know it (it was removed).
func (c *Container) State() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := run(ctx, nil, c.e.Path, "inspect", "--format", "{{.State.Status}}", c.Name)
	if err != nil {
		return ""
	}
	return out
}

// Exec runs argv in the container and returns its trimmed stdout.
func (c *Container) Exec(t testing.TB, argv ...string) string {
	t.Helper()
	return c.e.Command(t, append([]string{"exec", c.Name}, argv...)...)
}

// RandomName returns prefix followed by 12 random hex digits.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CLIProcesses returns the process IDs of this host's docker or podman CLI
// processes whose command line mentions word (a
// container name or ID): what a test checks to prove that nothing was left
// running.
func CLIProcesses(word string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		switch filepath.Base(argv[0]) {
		case "docker", "podman":
		default:
			continue
		}
		for _, a := range argv[1:] {
			if strings.Contains(a, word) {
				pid, _ := strconv.Atoi(filepath.Base(d))
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
