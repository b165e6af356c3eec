package containertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var static struct {
	once sync.Once
	path string
	err  error
}

// StaticTestBinary returns a statically linked copy of the running test
// binary: the test package in the current directory (go test runs each
// package's tests there) built again with `CGO_ENABLED=0 go test -c`,
// without -race. It has the same TestMain, hence the same spawn.Main setup,
// so it can stand in for the test binary as a child context inside a
// container that has no libc. It is built once per test process, into a
// directory of os.TempDir() named after the package (so a rebuilt test
// binary with unchanged sources gives the same bytes and a warm cache in
// the container); the build cache keeps rebuilds to a link.
//
// It skips (fails under SPINDLE_REQUIRE_INTEGRATION=1) when no go
// command is found.
func StaticTestBinary(t testing.TB) string {
	t.Helper()
	static.once.Do(func() { static.path, static.err = buildStatic() })
	if static.err != nil {
		if strings.Contains(static.err.Error(), "no go command") {
			Unavailable(t, static.err.Error())
		}
		t.Fatalf("containertest: %v", static.err)
	}
	return static.path
}

func buildStatic() (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, serr := os.Stat(goCmd); serr != nil {
			return "", fmt.Errorf("no go command to build a static test binary: %v", err)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("spindle-static-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(strings.TrimPrefix(wd, "/")) + ".test"
	out := filepath.Join(dir, name)
	tmp := out + fmt.Sprintf(".%d.tmp", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "test", "-c", "-o", tmp, ".")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS="+withoutRace(os.Getenv("GOFLAGS")))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("CGO_ENABLED=0 go test -c in %s: %w\n%s", wd, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	if !IsStatic(out) {
		return "", fmt.Errorf("%s is dynamically linked although CGO_ENABLED=0", out)
	}
	return out, nil
}

// withoutRace drops -race from a GOFLAGS value.
func withoutRace(flags string) string {
	var keep []string
	for _, f := range strings.Fields(flags) {
		if f != "-race" && f != "-race=true" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}
