package docker

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"slices"

	"github.com/spindle-go/spindle/spawn/runner"
)

// Target runs commands in a container through the docker or podman CLI. It
// implements runner.Target, so a wrapping method (sudo inside a container)
// takes it like any other. A Target is safe for concurrent use; with an
// Image, every Runner starts its own fresh container.
type Target struct {
	opts   TargetOptions
	path   string   // the CLI's absolute path
	global []string // --context / -H flags
	fl     flavor
}

var _ runner.Target = (*Target)(nil)

// NewTarget checks opts and finds the CLI. A CLI that is not installed is
// an error matching ErrCLINotFound (and exec.ErrNotFound).
func NewTarget(opts TargetOptions) (*Target, error) {
	opts.ContainerEnv = slices.Clone(opts.ContainerEnv)
	opts.RunArgs = slices.Clone(opts.RunArgs)
	if err := opts.validate(); err != nil {
		return nil, err
	}
	path, err := exec.LookPath(opts.cli())
	if err != nil {
		return nil, &Error{CLI: opts.cli(), Op: "lookup", Err: ErrCLINotFound, Cause: err}
	}
	t := &Target{opts: opts, path: path, fl: opts.flavor()}
	switch {
	case opts.Context != "" && t.fl == flavorPodman:
		t.global = []string{"--connection", opts.Context}
	case opts.Context != "":
		t.global = []string{"--context", opts.Context}
	case opts.Host != "" && t.fl == flavorPodman:
		t.global = []string{"--url", opts.Host}
	case opts.Host != "":
		t.global = []string{"-H", opts.Host}
	}
	return t, nil
}

// Info describes the target: method "docker" or "podman", the container
// (or image) as host, the user if one was given.
func (t *Target) Info() runner.Info {
	host := cmp.Or(t.opts.Container, t.opts.ContainerName, t.opts.Image)
	return runner.Info{Method: t.method(), Host: host, User: t.opts.User, Caps: caps}
}

// caps: signals reach the process through the CLI (kill in the container,
// docker kill); a container shares neither descriptors nor files with us.
var caps = runner.Caps{Signal: true}

func (t *Target) method() string {
	if t.fl == flavorPodman {
		return "podman"
	}
	return "docker"
}

// Runner prepares cmd: `docker exec -i [-u] [-w] [-e]... CONTAINER ARGV`
// or `docker run -i --rm --pull never --name NAME [-u] [-w] [-e]...
// [RunArgs] IMAGE ARGV`. Nothing runs until Start.
func (t *Target) Runner(cmd runner.Command) (runner.Runner, error) {
	if len(cmd.Argv) == 0 {
		return nil, fmt.Errorf("docker: empty command")
	}
	for _, kv := range cmd.Env {
		if err := checkEnv(kv); err != nil {
			return nil, err
		}
	}
	r := &cliRunner{t: t, token: randomHex(8), done: make(chan struct{})}
	args := slices.Clone(t.global)
	if t.opts.Container != "" {
		r.container = t.opts.Container
		args = append(args, "exec", "-i")
	} else {
		r.container, r.fresh = t.opts.ContainerName, true
		if r.container == "" {
			r.container = "spindle-" + randomHex(6)
		}
		args = append(args, "run", "-i", "--rm", "--pull", "never", "--name", r.container)
		if t.opts.Init {
			args = append(args, "--init")
		}
	}
	if t.opts.User != "" {
		args = append(args, "-u", t.opts.User)
	}
	if dir := cmp.Or(cmd.Dir, t.opts.Workdir); dir != "" {
		args = append(args, "-w", dir)
	}
	args = append(args, "-e", envToken+"="+r.token)
	for _, kv := range append(slices.Clone(t.opts.ContainerEnv), cmd.Env...) {
		args = append(args, "-e", kv)
	}
	if r.fresh {
		args = append(args, t.opts.RunArgs...)
		args = append(args, t.opts.Image)
	} else {
		args = append(args, r.container)
	}
	r.desc = fmt.Sprintf("%s %s %s", t.method(), args[len(t.global)], r.container)
	r.argv = append(args, cmd.Argv...)
	r.desc += " " + cmd.Argv[0]
	if err := t.newCLIRunner(r); err != nil {
		return nil, err
	}
	return r, nil
}

// envToken names the variable that marks a runner's processes in the
// container, so that Signal and Kill find them (and their descendants)
// without a process ID.
const envToken = "SPINDLE_RUNNER"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
