package boot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/spawn/internal/execrun"
	"github.com/spindle-go/spindle/spawn/runner"
)

// catProgram is what the tests ship instead of a Spindle binary: a script
// that greets and then echoes its stdin, so a test sees every byte that
// followed the upload on the same stream.
func catProgram(t *testing.T) *Binary {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prog")
	// Padding makes the upload span many pipe buffers.
	body := "#!/bin/sh\necho hello-from-$$\nexec cat\n#" + strings.Repeat("0123456789abcdef", 40000) + "\n"
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return NewBinary(path, runtime.GOOS+"/"+runtime.GOARCH)
}

// fakeTools returns a directory of commands to put first in PATH.
func fakeTools(t *testing.T, tools map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range tools {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func target(pathFirst string) *execrun.Target {
	t := &execrun.Target{Desc: runner.Info{Method: "test", Host: "localhost"}, Signals: true}
	if pathFirst != "" {
		t.Env = []string{"PATH=" + pathFirst + ":" + os.Getenv("PATH")}
	}
	return t
}

// checkCat checks a started catProgram's stream: its greeting, then the
// echo of line written after the upload. It may run on any goroutine.
func checkCat(p *Process, line string) error {
	r := bufio.NewReader(p.Link)
	hello, err := r.ReadString('\n')
	if err != nil || hello != fmt.Sprintf("hello-from-%d\n", p.Info.Pid) {
		return fmt.Errorf("greeting %q (%v), want hello-from-%d", hello, err, p.Info.Pid)
	}
	if _, err := io.WriteString(p.Stdin, line); err != nil {
		return err
	}
	if echo, err := r.ReadString('\n'); err != nil || echo != line {
		return fmt.Errorf("echo %q (%v): bytes after the upload were lost or mixed in", echo, err)
	}
	return nil
}

// endCat ends a started catProgram and waits for it.
func endCat(p *Process) {
	_ = p.Stdin.Close()
	_ = p.Runner.Wait(context.Background())
	_ = p.Runner.Stdout().Close()
}

// startCat boots catProgram and checks the stream: the greeting, then an
// echo of what is written after the upload.
func startCat(t *testing.T, tg runner.Target, opts Options) *Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, tg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { endCat(p) })
	if err := checkCat(p, "after the upload\n"); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStart_UploadOnTheSameStream(t *testing.T) {
	for name, tools := range map[string]map[string]string{
		"fullblock dd": nil,
		// BSD and macOS dd know no iflag: the script reads in bounded
		// chunks and counts.
		"dd without iflag": {"dd": `for a do case $a in iflag=*) echo "dd: unknown operand" >&2; exit 1;; esac; done; exec ` + mustLook(t, "dd") + ` "$@"`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			bin := catProgram(t)
			opts := Options{Host: "localhost", CacheDirs: []string{dir}, Binaries: []*Binary{bin}}
			p := startCat(t, target(fakeTools(t, tools)), opts)
			if p.Info.CacheHit || p.Info.Uploaded == 0 {
				t.Fatalf("first start: %+v, want an upload", p.Info)
			}
			p = startCat(t, target(""), opts)
			if !p.Info.CacheHit || p.Info.Uploaded != 0 {
				t.Fatalf("second start: %+v, want a cache hit", p.Info)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Fatalf("cache holds %v, want one file", entries)
			}
		})
	}
}

// TestStart_MinimalTools runs the bootstrap with a PATH holding only the
// tools it needs, without zstd (then also without gzip, and with only
// cksum to verify), so every codec and the weakest digest are exercised.
func TestStart_MinimalTools(t *testing.T) {
	base := []string{"uname", "id", "ls", "mkdir", "chmod", "rm", "mv", "cat", "df", "tail", "dd", "wc"}
	for name, extra := range map[string][]string{
		"gzip":      {"gzip", "sha256sum"},
		"raw":       {"sha256sum"},
		"raw cksum": {"cksum"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, tool := range append(base, extra...) {
				if err := os.Symlink(mustLook(t, tool), filepath.Join(dir, tool)); err != nil {
					t.Fatal(err)
				}
			}
			tg := target("")
			tg.Env = []string{"PATH=" + dir}
			p := startCat(t, tg, Options{CacheDirs: []string{filepath.Join(t.TempDir(), "c")}, Binaries: []*Binary{catProgram(t)}})
			codec, tool := strings.Fields(name)[0], "sha256sum"
			if strings.HasSuffix(name, "cksum") {
				tool = "cksum"
			}
			if p.Info.Codec != codec || p.Info.DigestTool != tool {
				t.Fatalf("codec %s, tool %s; want %s, %s", p.Info.Codec, p.Info.DigestTool, codec, tool)
			}
		})
	}
}

func TestStart_BusyboxShell(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox")
	}
	dir := t.TempDir()
	sh := filepath.Join(dir, "sh")
	if err := os.Symlink(bb, sh); err != nil {
		t.Fatal(err)
	}
	bin := catProgram(t)
	startCat(t, target(""), Options{Shell: sh, CacheDirs: []string{filepath.Join(dir, "c")}, Binaries: []*Binary{bin}})
}

func TestStart_Failures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tools map[string]string
		dirs  func(t *testing.T) []string
		want  error
	}{
		{name: "digest tool lies", tools: map[string]string{"openssl": "echo 0000"}, want: ErrBootstrap},
		{name: "df says full", tools: map[string]string{"df": `echo "Filesystem 1024-blocks Used Available Capacity Mounted"; echo "x 10 10 1 99% /"`}, want: ErrDiskFull},
		{name: "write fails", tools: map[string]string{"zstd": "cat >/dev/null; exit 1"}, want: ErrBootstrap},
		{name: "no private dir", dirs: func(t *testing.T) []string {
			d := t.TempDir()
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
			return []string{d}
		}, want: ErrNoExecDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs := []string{filepath.Join(t.TempDir(), "c")}
			if tc.dirs != nil {
				dirs = tc.dirs(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := Start(ctx, target(fakeTools(t, tc.tools)), Options{Host: "h", CacheDirs: dirs, Binaries: []*Binary{catProgram(t)}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			entries, _ := os.ReadDir(dirs[0])
			for _, e := range entries {
				t.Errorf("left behind: %s", e.Name())
			}
		})
	}
}

func TestStart_PlatformMismatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tools := fakeTools(t, map[string]string{"uname": "echo Plan9 mips"})
	_, err := Start(ctx, target(tools), Options{Host: "h", CacheDirs: []string{t.TempDir()}})
	var pe *PlatformError
	if !errors.Is(err, ErrPlatformMismatch) || !errors.As(err, &pe) || pe.Uname != "Plan9 mips" {
		t.Fatalf("error %v, want a *PlatformError naming Plan9 mips", err)
	}
}

func mustLook(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skip("no " + name)
	}
	return p
}
