package boot

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// BinarySource gives the bootstrap a binary for a platform it has none
// for, once the target said which platform it runs (*Builder does).
type BinarySource interface {
	Binary(ctx context.Context, platform string) (*Binary, error)
}

// Errors of a build on demand, the reasons a *BuildError carries.
var (
	// ErrCannotBuild: a binary for the target's platform could not be
	// built on demand (*BuildError).
	ErrCannotBuild = errors.New("spawn: cannot build the binary for the target's platform")
	// ErrNoToolchain: no go command was found (*BuildError).
	ErrNoToolchain = errors.New("spawn: no Go toolchain")
	// ErrNoSource: the go command cannot find the main package's source
	// in the main module, from BuildOptions.Dir (*BuildError).
	ErrNoSource = errors.New("spawn: the main package's source is not at hand")
)

// BuildError reports a build on demand that could not be done. It names
// the platform and says how to supply a binary instead. It matches
// ErrCannotBuild, and its Err (ErrNoToolchain, ErrNoSource or the go
// command's failure) through Unwrap.
type BuildError struct {
	Platform string // GOOS/GOARCH asked for
	Package  string // the main package ("example.com/app/cmd/worker"), if known
	Err      error
	Output   string // the go command's output, if it ran
}

func (e *BuildError) Error() string {
	pkg := e.Package
	if pkg == "" {
		pkg = "./cmd/yourprogram"
	}
	goos, goarch, _ := strings.Cut(e.Platform, "/")
	s := fmt.Sprintf("spawn: cannot build %s for %s: %v", pkg, e.Platform, e.Err)
	if e.Output != "" {
		s += ":\n" + truncate(strings.TrimSpace(e.Output), 2000) + "\n"
	}
	return s + fmt.Sprintf("; supply one: CGO_ENABLED=0 GOOS=%[1]s GOARCH=%[2]s go build -trimpath -ldflags='-s -w' -o prog-%[1]s-%[2]s %[3]s, then spawn.NewBinary(\"prog-%[1]s-%[2]s\", %[4]q) in Bootstrap.Binaries",
		goos, goarch, pkg, e.Platform)
}

// Unwrap returns the reason.
func (e *BuildError) Unwrap() error { return e.Err }

// Is matches ErrCannotBuild.
func (e *BuildError) Is(target error) bool { return target == ErrCannotBuild }

// BuildOptions configures a Builder. Zero values mean the documented
// defaults.
type BuildOptions struct {
	// Dir is where the go command runs: a directory of the main module
	// (or of a workspace that holds it). Default: the working directory.
	Dir string
	// CacheDir keeps the built binaries, one file per build, named by a
	// content hash of the running program, the platform and the flags.
	// Default: os.UserCacheDir()/spindle/builds.
	CacheDir string
	// KeepSymbols ships the binaries with their symbol table, DWARF and
	// file paths. Default: stripped (-trimpath -ldflags=-s -w), which
	// keeps panics' stack traces (Go's line tables stay).
	KeepSymbols bool
	// Go is the go command. Default: "go" in PATH, else GOROOT/bin/go.
	Go string
	// Timeout bounds one build. Default 10 minutes.
	Timeout time.Duration
	// Logger receives a line per build and per cache hit. Default:
	// discard.
	Logger *slog.Logger

	// For tests: the running program's build information and binary.
	info func() (*debug.BuildInfo, bool)
	self func() (*Binary, error)
}

const defaultBuildTimeout = 10 * time.Minute

// The platforms the bootstrap script can name (its uname mapping): a
// build is only ever asked for one of them, so what a target can make the
// parent build and keep is bounded (at most len(goosKnown)*len(goarchKnown)
// builds per Builder), whatever it claims.
var (
	goosKnown   = []string{"linux", "darwin", "freebsd", "openbsd", "netbsd", "dragonfly", "solaris"}
	goarchKnown = []string{"amd64", "arm64", "386", "arm", "riscv64", "ppc64le", "ppc64", "s390x", "mips64", "loong64"}
)

// Buildable reports whether platform is one the bootstrap script can
// report, the only ones a build is made for.
func Buildable(platform string) bool {
	goos, goarch, ok := strings.Cut(platform, "/")
	return ok && slices.Contains(goosKnown, goos) && slices.Contains(goarchKnown, goarch)
}

// Builder builds the running program for other platforms on demand: the
// same main package of the same module, with the same build settings
// (tags, ldflags, gcflags, trimpath, GOEXPERIMENT), always with
// CGO_ENABLED=0 (a shipped binary must not need the target's libc; -race,
// -msan and -asan need cgo and are dropped), stripped unless KeepSymbols.
// A test binary (the main package is not package main) is rebuilt with
// `go test -c`. Builds are cached in CacheDir; concurrent requests for one
// platform share one build. A Builder is safe for concurrent use.
type Builder struct {
	opts BuildOptions
	log  *slog.Logger

	mu     sync.Mutex
	builds map[string]*buildCall // by platform
}

type buildCall struct {
	done chan struct{}
	bin  *Binary
	err  error
}

// NewBuilder returns a Builder; nothing runs until a platform is asked for.
func NewBuilder(opts BuildOptions) *Builder {
	b := &Builder{opts: opts, log: opts.Logger, builds: map[string]*buildCall{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.opts.Timeout <= 0 {
		b.opts.Timeout = defaultBuildTimeout
	}
	if b.opts.info == nil {
		b.opts.info = debug.ReadBuildInfo
	}
	if b.opts.self == nil {
		b.opts.self = Self
	}
	return b
}

// Binary returns the program built for platform ("linux/arm64"), from the
// cache or built now. Callers that ask for one platform at once share one
// build, which runs to its end (bounded by BuildOptions.Timeout) even when
// a caller's ctx ends; a failed build is remembered, a timed-out one is
// not. Errors are *BuildError.
func (b *Builder) Binary(ctx context.Context, platform string) (*Binary, error) {
	if !Buildable(platform) {
		return nil, &BuildError{Platform: platform, Err: fmt.Errorf("%q is not a platform the bootstrap knows (docs/bootstrap.md)", platform)}
	}
	b.mu.Lock()
	c := b.builds[platform]
	if c == nil {
		c = &buildCall{done: make(chan struct{})}
		b.builds[platform] = c
		go b.run(c, platform)
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.bin, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *Builder) run(c *buildCall, platform string) {
	defer close(c.done)
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
	defer cancel()
	c.bin, c.err = b.build(ctx, platform)
	if c.err != nil && ctx.Err() != nil {
		b.mu.Lock()
		delete(b.builds, platform) // a later request tries again
		b.mu.Unlock()
	}
}

// plan is one build: what to run and where the result is kept.
type plan struct {
	pkg, module string
	test        bool // a test binary: rebuild with go test -c
	flags       []string
	env         []string
	key         string
}

func (b *Builder) build(ctx context.Context, platform string) (*Binary, error) {
	begin := time.Now()
	p, err := b.plan(platform)
	if err != nil {
		return nil, err
	}
	dir, err := b.cacheDir()
	if err != nil {
		return nil, &BuildError{Platform: platform, Package: p.pkg, Err: err}
	}
	out := filepath.Join(dir, p.key)
	if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
		b.log.Debug("spawn: built binary from the cache", "platform", platform, "path", out)
		return NewBinary(out, platform), nil
	}
	if err := b.compile(ctx, platform, p, out); err != nil {
		return nil, err
	}
	st, _ := os.Stat(out)
	b.log.Info("spawn: built the binary for a target's platform", "platform", platform, "package", p.pkg,
		"bytes", st.Size(), "stripped", !b.opts.KeepSymbols, "took", time.Since(begin).Round(time.Millisecond))
	return NewBinary(out, platform), nil
}

// plan derives the build from the running program's build information.
func (b *Builder) plan(platform string) (*plan, error) {
	info, ok := b.opts.info()
	if !ok || info.Path == "" {
		return nil, &BuildError{Platform: platform, Err: fmt.Errorf("%w: the program has no module build information", ErrNoSource)}
	}
	p := &plan{pkg: info.Path, module: info.Main.Path}
	if pkg, ok := strings.CutSuffix(p.pkg, ".test"); ok { // the test binary of a package
		p.pkg, p.test = pkg, true
	}
	if p.pkg == "command-line-arguments" || p.module == "" {
		return nil, &BuildError{Platform: platform, Package: p.pkg, Err: fmt.Errorf("%w: the program was built from files, not from a package of a module", ErrNoSource)}
	}
	goos, goarch, _ := strings.Cut(platform, "/")
	p.env = []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=0", "GOFLAGS=" + withoutCgoFlags(os.Getenv("GOFLAGS"))}
	trim := !b.opts.KeepSymbols
	ldflags := ""
	for _, s := range info.Settings {
		switch s.Key {
		case "-tags", "-gcflags", "-asmflags":
			p.flags = append(p.flags, s.Key+"="+s.Value)
		case "-ldflags":
			ldflags = s.Value
		case "-trimpath":
			trim = trim || s.Value == "true"
		case "GOEXPERIMENT":
			p.env = append(p.env, "GOEXPERIMENT="+s.Value)
		}
	}
	if !b.opts.KeepSymbols {
		ldflags = strings.TrimSpace(ldflags + " -s -w")
	}
	if ldflags != "" {
		p.flags = append(p.flags, "-ldflags="+ldflags)
	}
	if trim {
		p.flags = append(p.flags, "-trimpath")
	}
	self, err := b.opts.self()
	if err == nil {
		err = self.Prepare()
	}
	if err != nil {
		return nil, &BuildError{Platform: platform, Package: p.pkg, Err: err}
	}
	h := sha256.New()
	fmt.Fprintf(h, "spindle-build/1\x00%s\x00%s\x00%s\x00%s\x00%s", self.digest, platform, p.pkg,
		strings.Join(p.flags, "\x00"), strings.Join(p.env, "\x00"))
	p.key = hex.EncodeToString(h.Sum(nil))[:40] + "-" + goos + "-" + goarch
	return p, nil
}

func (b *Builder) cacheDir() (string, error) {
	dir := b.opts.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "spindle", "builds")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// goCommand finds the go command.
func (b *Builder) goCommand() (string, error) {
	if b.opts.Go != "" {
		path, err := exec.LookPath(b.opts.Go)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoToolchain, err)
		}
		return path, nil
	}
	if path, err := exec.LookPath("go"); err == nil {
		return path, nil
	}
	if root := runtime.GOROOT(); root != "" {
		path := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("%w: no go command in PATH or GOROOT", ErrNoToolchain)
}

// compile runs the go command into a temporary file, checks what it
// built, and renames it into the cache.
func (b *Builder) compile(ctx context.Context, platform string, p *plan, out string) error {
	berr := func(err error, output string) error {
		return &BuildError{Platform: platform, Package: p.pkg, Err: err, Output: output}
	}
	goCmd, err := b.goCommand()
	if err != nil {
		return berr(err, "")
	}
	// Where is the source? The go command resolves the package from Dir.
	list, err := b.goRun(ctx, goCmd, nil, "list", "-f", "{{.Name}} {{with .Module}}{{.Path}}{{end}}", p.pkg)
	if err != nil {
		return berr(fmt.Errorf("%w: go list %s in %s: %v", ErrNoSource, p.pkg, b.dirOrCwd(), err), list)
	}
	name, module, _ := strings.Cut(strings.TrimSpace(list), " ")
	if module != p.module {
		return berr(fmt.Errorf("%w: %s resolves to module %q from %s, the program was built from %q", ErrNoSource, p.pkg, module, b.dirOrCwd(), p.module), "")
	}
	if name != "main" { // only a test binary runs a package that is not main
		p.test = true
	}
	var tok [6]byte
	_, _ = rand.Read(tok[:])
	tmp := fmt.Sprintf("%s.%x.tmp", out, tok) // builders of other processes, or this one, may race
	args := []string{"build"}
	if p.test {
		args = []string{"test", "-c"}
	}
	args = append(append(append(args, "-o", tmp), p.flags...), p.pkg)
	if output, err := b.goRun(ctx, goCmd, p.env, args...); err != nil {
		_ = os.Remove(tmp)
		return berr(fmt.Errorf("go %s: %w", strings.Join(args, " "), err), output)
	}
	if err := builtFor(tmp, platform); err != nil {
		_ = os.Remove(tmp)
		return berr(err, "")
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.Remove(tmp)
		return berr(err, "")
	}
	return nil
}

func (b *Builder) dirOrCwd() string {
	if b.opts.Dir != "" {
		return b.opts.Dir
	}
	wd, _ := os.Getwd()
	return wd
}

// goRun runs the go command in Dir with extra environment and returns its
// combined output.
func (b *Builder) goRun(ctx context.Context, goCmd string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = b.opts.Dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (build timeout %v)", ctx.Err(), b.opts.Timeout)
	}
	return out.String(), err
}

// withoutCgoFlags drops from a GOFLAGS value the flags that need cgo.
func withoutCgoFlags(flags string) string {
	var keep []string
	for _, f := range strings.Fields(flags) {
		switch strings.SplitN(f, "=", 2)[0] {
		case "-race", "-msan", "-asan":
			continue
		}
		keep = append(keep, f)
	}
	return strings.Join(keep, " ")
}
