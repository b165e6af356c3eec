package spawn

import (
	"log/slog"
	"time"

	"github.com/spindle-go/spindle/spawn/internal/boot"
)

// Defaults shared by every method.
const (
	defaultGrace            = 2 * time.Second
	defaultBootstrapTimeout = 60 * time.Second
)

// Common holds the options every connection method shares; each method's
// options embed it. Zero values mean the documented defaults.
type Common struct {
	// Name is the context's human name. Default: the method's own
	// ("local-<pid>", "ssh-<alias>", "command-<argv0>", ...).
	Name string
	// Grace is how long Shutdown waits after asking the child to stop
	// before SIGTERM, and after SIGTERM before SIGKILL. Default 2s.
	Grace time.Duration
	// LogLevel is the minimum level of the child's slog records forwarded
	// to the parent. Default slog.LevelInfo.
	LogLevel slog.Level
	// Env is set in the child's environment ("NAME=value").
	Env []string
	// AllowSiblings lets the child's subtree exchange messages with this
	// context's other children. By default a child started through the
	// bootstrap (spawn.Start: another host, a container, another user, a
	// trust boundary) is isolated: it may talk to this context and its
	// ancestors only (unidirectional mode, actors.Transport.Isolated; see
	// docs/security.md). Local children are never isolated by default.
	AllowSiblings bool
	// Via, when set, names the context that starts the child (docs/via.md):
	// the method runs there, the child becomes that context's child, and
	// this context gets a handle whose Wait, Signal, Kill and Shutdown go
	// through it. It must be a descendant of this context; only plain
	// options travel (ErrViaOption otherwise). Default: this context.
	Via Hop `msgpack:"-"`
}

func (c *Common) grace() time.Duration {
	if c.Grace <= 0 {
		return defaultGrace
	}
	return c.Grace
}

// Bootstrap holds the options of the methods that start the child through
// the bootstrap (docs/bootstrap.md): every method but Local. Zero values
// mean the documented defaults.
type Bootstrap struct {
	// Binaries are programs for other platforms (NewBinary). The one for
	// the target's platform is shipped; the running program (Self) serves
	// its own platform unless Binaries has one for it. With Common.Via,
	// they are offered to the intermediate by SHA-256 and fetched from
	// its parent only when a target needs one (docs/via.md).
	Binaries []*Binary
	// Build, when set, builds the binary for a target whose platform no
	// entry of Binaries is for, once the bootstrap has seen the target's
	// platform (NewBuilder: the Go toolchain and the main module's
	// source must be at hand). Without it such a target fails with a
	// *PlatformError that says how to supply a binary. The build's time
	// does not count against Timeout.
	Build *Builder
	// CacheDirs are the target's directories tried for the binary cache,
	// in order. Default: $XDG_CACHE_HOME/spindle (or ~/.cache/spindle),
	// ${TMPDIR:-/tmp}/spindle-UID, /var/tmp/spindle-UID,
	// /dev/shm/spindle-UID. A directory must be private to the user and
	// allow executing files. Paths must be absolute and free of ":".
	CacheDirs []string
	// Shell is the POSIX shell that runs the bootstrap. Default /bin/sh.
	Shell string
	// Timeout bounds the whole start: reaching the target, the bootstrap,
	// the upload and the handshake, not counting a build on demand
	// (Build). Default 60s. The caller's ctx can only shorten it.
	Timeout time.Duration
	// Cache bounds the binary cache directory on the target: once up, the
	// child prunes the directory it runs from (by age and total size, at
	// most once per Cache.Every, never a binary a running context holds;
	// docs/bootstrap.md, "Cache upkeep"). Zero values mean the defaults:
	// 30 days, 1 GiB, keep 2, every hour. It travels with Common.Via.
	Cache CachePolicy
	// Progress, when set, is told the bytes of the binary's upload as they
	// are written (a cold start; a cache hit reports nothing): first Done
	// 0, then after each 128 KiB, last Done == Total. Bytes are counted
	// as sent, after compression (Progress.Codec). It runs on the
	// goroutine that writes the upload: keep it short. The same transfer
	// is logged on the node's logger at a bounded rate
	// (docs/observability.md, "Upload progress"). With Common.Via it
	// does not travel: the intermediate logs its fetch of the binary and
	// its upload the same way, and those records reach this context's
	// logger through log forwarding.
	Progress func(Progress)
}

// Progress is one report of a transfer's bytes (Bootstrap.Progress): its
// Phase (PhaseUpload), its Target, the bytes Done and in all (Total, as
// they cross the stream: compressed), the Codec and the binary's own Size.
type Progress = boot.Progress

// CachePolicy bounds a binary cache directory (Bootstrap.Cache): MaxAge
// (default 30 days), MaxBytes (default 1 GiB), Keep (the most recently
// used binaries always kept, default 2), Every (the least time between
// two prunes of one directory, default 1 hour), Off. A negative MaxAge or
// MaxBytes means no such bound.
type CachePolicy = boot.CachePolicy

// CachePolicyEnv names the variable that carries a CachePolicy
// (CachePolicy.Encode) to a context: the bootstrap sets it for every
// child; a context that keeps a hop cache (docs/via.md) prunes it under
// the policy found there, the defaults without one.
const CachePolicyEnv = boot.CachePolicyEnv

// PhaseUpload is the Phase of the bootstrap's upload of the binary to the
// target.
const PhaseUpload = boot.PhaseUpload

func (b *Bootstrap) timeout() time.Duration {
	if b.Timeout <= 0 {
		return defaultBootstrapTimeout
	}
	return b.Timeout
}

// source is Build as the bootstrap's interface (nil stays nil).
func (b *Bootstrap) source() boot.BinarySource {
	if b.Build == nil {
		return nil
	}
	return b.Build
}
