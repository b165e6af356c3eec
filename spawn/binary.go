package spawn

import "github.com/spindle-go/spindle/spawn/internal/boot"

// Binary is a program that the bootstrap ships to targets (SSH hosts,
// containers, other users): a Go binary whose main calls Main first, built
// for one platform. It computes its digest and its compressed forms once
// and keeps them, so reuse one Binary for many spawns. A Binary is safe
// for concurrent use.
type Binary = boot.Binary

// NewBinary describes the program at path for platform ("linux/arm64").
// An empty platform is read from the Go build information recorded in the
// file. Nothing is read until the first spawn that needs it.
func NewBinary(path, platform string) *Binary { return boot.NewBinary(path, platform) }

// Self returns the running program as a Binary (the default binary of
// every bootstrapped context). Its digest is computed once per process.
func Self() (*Binary, error) { return boot.Self() }

// Builder builds the running program for other platforms on demand, for
// Bootstrap.Build: the same main package of the same module with the same
// build settings (tags, ldflags, gcflags, trimpath, GOEXPERIMENT), with the
// target's GOOS/GOARCH and CGO_ENABLED=0 (-race, -msan and -asan, which
// need cgo, are dropped), stripped (-trimpath -ldflags=-s -w) unless
// BuildOptions.KeepSymbols. A test binary is rebuilt with `go test -c`.
// Builds are cached in the user's cache directory under a content hash of
// the running program, the platform and the flags, so a second run of the
// same program builds nothing; concurrent requests for one platform share
// one build. It needs the go command and the main module's source (found
// from BuildOptions.Dir, default the working directory); without them the
// error is a *BuildError (ErrNoToolchain, ErrNoSource) that names the
// platform and the command that builds a binary to supply instead. A
// Builder is safe for concurrent use; share one across spawns.
type Builder = boot.Builder

// BuildOptions configures a Builder; zero values mean the documented
// defaults.
type BuildOptions = boot.BuildOptions

// NewBuilder returns a Builder. Nothing runs until a target needs it.
func NewBuilder(opts BuildOptions) *Builder { return boot.NewBuilder(opts) }
