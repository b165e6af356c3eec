package boot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Sentinels for the ways a bootstrap fails, whatever the method. spawn
// re-exports them (spawn.ErrNoShell, ...); the typed errors below match
// them with errors.Is and carry the details.
var (
	// ErrNoShell: the target could not run the POSIX shell the bootstrap
	// needs, /bin/sh by default (*ShellError).
	ErrNoShell = errors.New("spawn: target has no usable POSIX shell")
	// ErrNoExecDir: no candidate cache directory on the target is private,
	// writable and allows executing files (*CacheDirError).
	ErrNoExecDir = errors.New("spawn: no writable cache directory that allows exec on the target")
	// ErrDiskFull: the target's cache directory has no room for the binary
	// (*DiskFullError).
	ErrDiskFull = errors.New("spawn: target disk full")
	// ErrPlatformMismatch: the target runs a platform no offered binary
	// was built for (*PlatformError).
	ErrPlatformMismatch = errors.New("spawn: target platform mismatch")
	// ErrBootstrapTimeout: the whole start exceeded the bootstrap timeout
	// or the caller's deadline (*BootstrapError).
	ErrBootstrapTimeout = errors.New("spawn: bootstrap timed out")
	// ErrBootstrap: the bootstrap failed in another way: a digest mismatch
	// after upload, an unexpected reply, a lost stream (*BootstrapError).
	ErrBootstrap = errors.New("spawn: bootstrap failed")
)

// ShellError reports that the target could not run the bootstrap's shell.
type ShellError struct {
	Host, Shell string
	ExitStatus  int
	Stderr      string // the last lines the target wrote to stderr
}

func (e *ShellError) Error() string {
	return fmt.Sprintf("spawn: %s cannot run %s (exit status %d): %s", e.Host, e.Shell, e.ExitStatus, orNone(e.Stderr))
}

// Is matches ErrNoShell.
func (e *ShellError) Is(target error) bool { return target == ErrNoShell }

// CacheDirError reports that no cache directory could hold the binary.
type CacheDirError struct {
	Host   string
	Detail string // each directory tried and why it was refused
}

func (e *CacheDirError) Error() string {
	return fmt.Sprintf("spawn: %s: no private, writable cache directory that allows exec: %s", e.Host, e.Detail)
}

// Is matches ErrNoExecDir.
func (e *CacheDirError) Is(target error) bool { return target == ErrNoExecDir }

// DiskFullError reports that the target's cache directory is too small.
type DiskFullError struct {
	Host, Dir string
	Need      int64 // bytes the binary needs
	AvailKiB  int64 // free space reported by df, in KiB
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("spawn: %s: no room for the binary in %s: it needs %d KiB, %d KiB free",
		e.Host, e.Dir, (e.Need+1023)/1024, e.AvailKiB)
}

// Is matches ErrDiskFull.
func (e *DiskFullError) Is(target error) bool { return target == ErrDiskFull }

// PlatformError reports a target platform no offered binary runs on.
type PlatformError struct {
	Host   string
	Remote string   // GOOS/GOARCH of the target ("unknown" parts possible)
	Uname  string   // what uname -sm printed there
	Local  []string // platforms of the binaries on offer, the running program first
	Build  error    // why the build on demand failed (a *BuildError), nil if none was asked
}

func (e *PlatformError) Error() string {
	s := fmt.Sprintf("spawn: %s runs %s (uname: %s) but the binaries on offer are for %s",
		e.Host, e.Remote, orNone(e.Uname), strings.Join(e.Local, ", "))
	if e.Build != nil {
		return s + "; " + strings.TrimPrefix(e.Build.Error(), "spawn: ")
	}
	goos, goarch, _ := strings.Cut(e.Remote, "/")
	return s + fmt.Sprintf("; build one (CGO_ENABLED=0 GOOS=%s GOARCH=%s go build -trimpath -ldflags='-s -w') and pass it in Bootstrap.Binaries (spawn.NewBinary), or set Bootstrap.Build (spawn.NewBuilder) to build it on demand", goos, goarch)
}

// Is matches ErrPlatformMismatch.
func (e *PlatformError) Is(target error) bool { return target == ErrPlatformMismatch }

// Unwrap returns the build's failure, if a build was asked for.
func (e *PlatformError) Unwrap() error { return e.Build }

// BootstrapError reports a failure after the target was reached, before
// the context was up.
type BootstrapError struct {
	Host   string
	Stage  string // "session", "probe", "upload", "verify", "exec", "handshake"
	Err    error
	Stderr string // the last lines the target wrote to stderr
}

func (e *BootstrapError) Error() string {
	s := fmt.Sprintf("spawn: %s: bootstrap %s: %v", e.Host, e.Stage, e.Err)
	if e.Stderr != "" {
		s += "; remote stderr:\n" + e.Stderr
	}
	return s
}

// Unwrap returns the cause.
func (e *BootstrapError) Unwrap() error { return e.Err }

// Is matches ErrBootstrapTimeout when the cause is a deadline, else
// ErrBootstrap.
func (e *BootstrapError) Is(target error) bool {
	switch target {
	case ErrBootstrapTimeout:
		return IsTimeout(e.Err)
	case ErrBootstrap:
		return !IsTimeout(e.Err)
	}
	return false
}

// IsTimeout reports a deadline: context.DeadlineExceeded or a net.Error
// timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func orNone(s string) string {
	if s == "" {
		return "(nothing on stderr)"
	}
	return s
}
