// Package containertest gives tests real containers: the Docker engine and
// rootful podman of this machine, images built locally FROM scratch (there
// is no registry: nothing is ever pulled), detached containers removed when
// the test ends, and a statically linked copy of the test binary to ship
// into them.
//
// # Usage
//
//	e := containertest.Docker(t)           // or containertest.Podman(t)
//	c := e.Run(t, e.BusyboxImage(t), containertest.RunOptions{})
//	// c.Name runs `sleep` as pid 1 until the test ends
//	bin := containertest.StaticTestBinary(t) // CGO_ENABLED=0 build of this test package
//
// Images: BusyboxImage holds only busybox-static (/bin/busybox and a
// symlink per applet, so /bin/sh exists), a writable /tmp and /var/tmp, and
// an /etc/passwd with root and user "spindle" (uid 1000). NoShellImage holds
// a single program, /bin/sleep, and no shell. Both are imported from a tar
// built in Go (`docker import -`, `podman import -`), tagged with the hash
// of their content, so building them is idempotent: a second call, or a
// second test process, finds the tag and does nothing.
//
// Why a static binary: binaries built by `go test -race` (and any cgo
// build) are dynamically linked against glibc, which a busybox-only
// container does not have; its shell reports "not found" for such a file.
// StaticTestBinary builds the test package once more with CGO_ENABLED=0
// (same TestMain, so the same spawn.Main setup) and the tests hand that file
// to the method as the binary for linux/amd64.
//
// When the CLI is missing, its engine does not answer, or the test does not
// run as root, the helpers skip the test with a clear message, unless the
// environment sets SPINDLE_REQUIRE_INTEGRATION=1 (as .ci/run does), in
// which case the test fails. All helpers are safe for concurrent use.
package containertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvRequire names the variable that turns missing prerequisites into
// failures instead of skips.
const EnvRequire = "SPINDLE_REQUIRE_INTEGRATION"

// Label is set on every image and container these helpers create, so that
// leftovers of a crashed run can be found (`docker ps -a --filter
// label=spindle-test`).
const Label = "spindle-test"

// Engine is one container CLI (docker or podman) whose engine answered.
type Engine struct {
	CLI  string // "docker" or "podman"
	Path string // the CLI's absolute path
}

var (
	probeMu sync.Mutex
	probed  = map[string]error{} // CLI -> result of the first probe
)

// Docker returns the Docker engine, or skips (fails under
// SPINDLE_REQUIRE_INTEGRATION=1) when the docker CLI or daemon is missing.
func Docker(t testing.TB) *Engine {
	t.Helper()
	return engine(t, "docker", "the docker CLI and a running Docker engine (CI machines have one)")
}

// Podman returns rootful podman, or skips (fails under
// SPINDLE_REQUIRE_INTEGRATION=1) when podman is missing or the test does
// not run as root.
func Podman(t testing.TB) *Engine {
	t.Helper()
	return engine(t, "podman", "podman, run as root (Debian: apt-get install podman)")
}

func engine(t testing.TB, cli, needs string) *Engine {
	t.Helper()
	e, err := Find(cli)
	if err != nil {
		Unavailable(t, fmt.Sprintf("needs %s: %v", needs, err))
	}
	return e
}

// Find returns the engine of cli ("docker" or "podman") when its CLI is
// installed, its engine answers and this process runs as root: the
// helpers' entry point for programs that are not tests (the bench
// harness).
func Find(cli string) (*Engine, error) {
	path, err := exec.LookPath(cli)
	if err == nil && os.Geteuid() != 0 {
		err = fmt.Errorf("not root")
	}
	if err == nil {
		err = probe(cli, path)
	}
	if err != nil {
		return nil, err
	}
	return &Engine{CLI: cli, Path: path}, nil
}

// Unavailable skips t with why, or fails it under
// SPINDLE_REQUIRE_INTEGRATION=1.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("integration prerequisite missing: %s; %s=1 forbids skipping", why, EnvRequire)
	}
	t.Skipf("skipping: %s; set %s=1 to make this a failure", why, EnvRequire)
}

// probe asks the engine for its version once per process.
func probe(cli, path string) error {
	probeMu.Lock()
	defer probeMu.Unlock()
	if err, ok := probed[cli]; ok {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := run(ctx, nil, path, "version", "--format", "{{.Server.Version}}")
	if cli == "podman" && err != nil { // podman 4 has no Server section without a remote
		_, err = run(ctx, nil, path, "version", "--format", "{{.Client.Version}}")
	}
	probed[cli] = err
	return err
}

// Command runs the CLI with args and returns its trimmed stdout; it fails
// t on error (with stderr in the message).
func (e *Engine) Command(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := run(ctx, nil, e.Path, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", e.CLI, strings.Join(args, " "), err)
	}
	return out
}

// run runs path with args (stdin from in, when not nil) and returns its
// trimmed stdout, or an error that includes its stderr.
func run(ctx context.Context, in []byte, path string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
