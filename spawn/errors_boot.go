package spawn

import "github.com/spindle-go/spindle/spawn/internal/boot"

// Errors of the bootstrap, whatever the method (docs/bootstrap.md).
var (
	// ErrNoShell: the target could not run the POSIX shell the bootstrap
	// needs, /bin/sh by default (*ShellError).
	ErrNoShell = boot.ErrNoShell
	// ErrNoExecDir: no candidate cache directory on the target is private,
	// writable and allows executing files (*CacheDirError).
	ErrNoExecDir = boot.ErrNoExecDir
	// ErrDiskFull: the target's cache directory has no room for the binary
	// (*DiskFullError).
	ErrDiskFull = boot.ErrDiskFull
	// ErrPlatformMismatch: the target runs a platform no offered binary
	// was built for (*PlatformError).
	ErrPlatformMismatch = boot.ErrPlatformMismatch
	// ErrBootstrapTimeout: the whole start exceeded the bootstrap timeout
	// or the caller's deadline (*BootstrapError).
	ErrBootstrapTimeout = boot.ErrBootstrapTimeout
	// ErrBootstrap: the bootstrap failed in another way: a digest mismatch
	// after upload, an unexpected reply (*BootstrapError).
	ErrBootstrap = boot.ErrBootstrap
	// ErrCannotBuild: Bootstrap.Build could not build the binary for the
	// target's platform (*BuildError, inside the *PlatformError).
	ErrCannotBuild = boot.ErrCannotBuild
	// ErrNoToolchain: a build on demand found no go command (*BuildError).
	ErrNoToolchain = boot.ErrNoToolchain
	// ErrNoSource: a build on demand found no source of the main package
	// in its module (*BuildError).
	ErrNoSource = boot.ErrNoSource
	// ErrNoCodec: an upload or a hop asked for a codec this program does
	// not link (package spawn/compress links zstd and gzip).
	ErrNoCodec = boot.ErrNoCodec
)

// Typed errors of the bootstrap; see the sentinels above.
type (
	// ShellError reports that the target could not run the shell.
	ShellError = boot.ShellError
	// CacheDirError reports that no cache directory could hold the binary.
	CacheDirError = boot.CacheDirError
	// DiskFullError reports that the target's cache directory is too small.
	DiskFullError = boot.DiskFullError
	// PlatformError reports a target platform no offered binary runs on.
	PlatformError = boot.PlatformError
	// BootstrapError reports a failure after the target was reached,
	// before the context was up.
	BootstrapError = boot.BootstrapError
	// BuildError reports a build on demand that could not be done; it
	// names the platform and how to supply a binary instead.
	BuildError = boot.BuildError
)
