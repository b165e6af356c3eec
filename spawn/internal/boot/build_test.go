package boot

import (
	"context"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// goOrSkip returns the go command, or skips: building on demand needs it.
func goOrSkip(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds with the go command; not in -short")
	}
	path, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	return path
}

func settings(t *testing.T, path string) map[string]string {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{"path": info.Path}
	for _, s := range info.Settings {
		m[s.Key] = s.Value
	}
	return m
}

// TestBuilder_OtherPlatforms builds this test binary (go test -c: the
// running program is a test) for linux/arm64 and darwin/arm64, from the
// test, stripped and without cgo; four concurrent requests for linux/arm64
// share one build. A second Builder on the same cache, with no toolchain
// at all, finds both in the cache.
func TestBuilder_OtherPlatforms(t *testing.T) {
	goOrSkip(t)
	cache := t.TempDir()
	b := NewBuilder(BuildOptions{CacheDir: cache})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bins := make([]*Binary, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range bins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bins[i], errs[i] = b.Binary(ctx, "linux/arm64")
		}()
	}
	wg.Wait()
	for i := range bins {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if bins[i] != bins[0] {
			t.Fatalf("request %d got another binary: concurrent requests did not share one build", i)
		}
	}
	arm := bins[0]
	if p, err := arm.Platform(); err != nil || p != "linux/arm64" {
		t.Fatalf("platform %q (%v)", p, err)
	}
	f, err := elf.Open(arm.Path())
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("machine %v, want aarch64", f.Machine)
	}
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("symbols: %v, want none (-s)", err)
	}
	if f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil {
		t.Error("DWARF present, want none (-w)")
	}
	f.Close()
	s := settings(t, arm.Path())
	for k, want := range map[string]string{"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0", "-trimpath": "true",
		"path": "github.com/spindle-go/spindle/spawn/internal/boot.test"} {
		if s[k] != want {
			t.Errorf("build setting %s = %q, want %q", k, s[k], want)
		}
	}
	if _, ok := s["-race"]; ok {
		t.Error("-race carried into a cgo-free build")
	}
	size, _ := arm.Size()
	t.Logf("linux/arm64 test binary: %d bytes, %s", size, filepath.Base(arm.Path()))
	runEmulated(t, arm.Path())

	mac, err := b.Binary(ctx, "darwin/arm64")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := macho.Open(mac.Path())
	if err != nil {
		t.Fatal(err)
	}
	if mf.Cpu != macho.CpuArm64 {
		t.Errorf("darwin binary cpu %v, want arm64", mf.Cpu)
	}
	mf.Close()

	// The cache: no toolchain needed for a hit.
	again := NewBuilder(BuildOptions{CacheDir: cache, Go: "/nonexistent/go"})
	for _, want := range []*Binary{arm, mac} {
		got, err := again.Binary(ctx, want.platform)
		if err != nil {
			t.Fatalf("second builder, %s: %v (want a cache hit)", want.platform, err)
		}
		gd, _ := got.Digest()
		wd, _ := want.Digest()
		if gd != wd || got.Path() != want.Path() {
			t.Errorf("cache hit %s %s, want %s %s", got.Path(), gd, want.Path(), wd)
		}
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 2 {
		t.Errorf("cache holds %d files, want 2", len(entries))
	}
}

// runEmulated runs the arm64 test binary when binfmt_misc can (qemu-user):
// it must pass one of its own tests on the emulated CPU.
func runEmulated(t *testing.T, path string) {
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err != nil {
		t.Log("not run: no qemu-aarch64 in binfmt_misc")
		return
	}
	out, err := exec.Command(path, "-test.run", "^TestParseReply$", "-test.v").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestParseReply") {
		t.Errorf("arm64 build under qemu: %v\n%s", err, out)
	}
}

// TestBuilder_CannotBuild: without a toolchain, or without the source,
// the error is a *BuildError that names the platform and how to supply a
// binary.
func TestBuilder_CannotBuild(t *testing.T) {
	goOrSkip(t)
	for name, tc := range map[string]struct {
		opts BuildOptions
		want error
	}{
		"no toolchain": {BuildOptions{Go: "/nonexistent/go"}, ErrNoToolchain},
		"no source":    {BuildOptions{Dir: t.TempDir()}, ErrNoSource},
		"built from files": {BuildOptions{info: func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Path: "command-line-arguments"}, true
		}}, ErrNoSource},
	} {
		t.Run(name, func(t *testing.T) {
			tc.opts.CacheDir = t.TempDir()
			_, err := NewBuilder(tc.opts).Binary(context.Background(), "linux/arm64")
			var be *BuildError
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrCannotBuild) || !errors.As(err, &be) || be.Platform != "linux/arm64" {
				t.Fatalf("error %v, want a *BuildError for linux/arm64 matching %v", err, tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, "GOOS=linux GOARCH=arm64") || !strings.Contains(msg, "Bootstrap.Binaries") {
				t.Errorf("message does not say how to supply a binary: %s", msg)
			}
		})
	}
}

// fakeSource hands out a prepared binary, after a delay.
type fakeSource struct {
	bin   *Binary
	err   error
	delay time.Duration
	asked []string
}

func (f *fakeSource) Binary(ctx context.Context, platform string) (*Binary, error) {
	f.asked = append(f.asked, platform)
	time.Sleep(f.delay)
	return f.bin, f.err
}

// TestStart_BuildOnDemand: a target of a platform nothing on offer is for
// (uname says aarch64) makes the bootstrap ask Options.Build, with its
// clock paused (the build outlasts Timeout), and ship what it gave.
func TestStart_BuildOnDemand(t *testing.T) {
	tools := fakeTools(t, map[string]string{"uname": "echo Linux aarch64"})
	prog := catProgram(t)
	prog.platform = "linux/arm64" // a script: it runs here all the same
	src := &fakeSource{bin: prog, delay: 3 * time.Second}
	p := startCat(t, target(tools), Options{Host: "h", CacheDirs: []string{t.TempDir()}, Build: src, Timeout: 2 * time.Second})
	if !p.Info.Built || p.Info.Platform != "linux/arm64" || p.Info.Uploaded == 0 || len(src.asked) != 1 || src.asked[0] != "linux/arm64" {
		t.Fatalf("info %+v, asked %v: want the built linux/arm64 binary uploaded", p.Info, src.asked)
	}
}

func TestStart_BuildOnDemandFails(t *testing.T) {
	tools := fakeTools(t, map[string]string{"uname": "echo Linux aarch64"})
	src := &fakeSource{err: &BuildError{Platform: "linux/arm64", Err: ErrNoToolchain}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Start(ctx, target(tools), Options{Host: "h", CacheDirs: []string{t.TempDir()}, Build: src})
	var pe *PlatformError
	var be *BuildError
	if !errors.Is(err, ErrPlatformMismatch) || !errors.As(err, &pe) || !errors.As(err, &be) || !errors.Is(err, ErrNoToolchain) {
		t.Fatalf("error %v, want a *PlatformError wrapping the *BuildError", err)
	}
	if pe.Remote != "linux/arm64" || pe.Uname != "Linux aarch64" {
		t.Errorf("platform error %+v", pe)
	}
}

// TestStart_HostileNeed: a target that does not run the script honestly
// can claim any platform in a need line, and send more than one: only a
// platform the script can name is built for, once per start; anything
// else fails the start without asking the builder.
func TestStart_HostileNeed(t *testing.T) {
	prog := catProgram(t)
	prog.platform = "linux/arm64"
	for name, tc := range map[string]struct {
		lines string
		want  error
		asked int
	}{
		"made-up platform": {"need linux/zz9 Linux zz9", ErrPlatformMismatch, 0},
		"unknown platform": {"need unknown/unknown Plan9 mips", ErrPlatformMismatch, 0},
		"made-up os":       {"need evil/arm64 Evil arm64", ErrPlatformMismatch, 0},
		"need twice":       {"need linux/arm64 Linux aarch64; read -r x; echo SPINDLE-BOOT/2 need linux/riscv64 Linux riscv64", ErrBadReply, 1},
		"need, no table":   {"need linux/arm64 Linux aarch64", ErrBadReply, 0},
	} {
		t.Run(name, func(t *testing.T) {
			// The "shell" ignores the script and says what the test wants.
			sh := filepath.Join(t.TempDir(), "sh")
			lines := strings.ReplaceAll(tc.lines, "; ", "\n")
			body := "#!/bin/sh\necho SPINDLE-BOOT/2 pid $$\necho SPINDLE-BOOT/2 " + lines + "\nsleep 30\n"
			if err := os.WriteFile(sh, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			src := &fakeSource{bin: prog}
			opts := Options{Host: "h", Shell: sh, CacheDirs: []string{t.TempDir()}, Build: src}
			if name == "need, no table" {
				opts.Build = nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := Start(ctx, target(""), opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if len(src.asked) != tc.asked {
				t.Errorf("builder asked for %v, want %d requests", src.asked, tc.asked)
			}
		})
	}
}

func TestBuildable(t *testing.T) {
	for p, want := range map[string]bool{"linux/arm64": true, "darwin/amd64": true, "linux/zz9": false, "unknown/unknown": false, "linux": false, "": false} {
		if Buildable(p) != want {
			t.Errorf("Buildable(%q) = %v", p, !want)
		}
	}
	if _, err := NewBuilder(BuildOptions{}).Binary(context.Background(), "linux/zz9"); !errors.Is(err, ErrCannotBuild) {
		t.Errorf("made-up platform: %v", err)
	}
}
