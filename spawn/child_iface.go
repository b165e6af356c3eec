package spawn

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Child is a started child context, whatever started it (a local process,
// an SSH session, a container, another user). Supervisors hold children
// through this interface. Every method shares one lifecycle: Shutdown
// runs the same ladder (SHUTDOWN over the link, SIGTERM, SIGKILL, each
// after the grace period), and a child that dies by itself releases its
// Node.OnShutdown hook. Implementations are safe for concurrent use.
type Child interface {
	// ID returns the child's context ID (never reused within a tree).
	ID() uint32
	// Name returns the child's human name.
	Name() string
	// Address returns the child's protoactor address ("ctx-7").
	Address() string
	// Spawn starts an actor of a kind registered in the child and returns
	// its PID. An empty name lets the child choose one.
	Spawn(ctx context.Context, kind, name string) (*actor.PID, error)
	// Dead is closed when the child's link is gone and IS_DEAD has been
	// raised for everything behind it.
	Dead() <-chan struct{}
	// DeadReason returns why the link ended; nil while it is up.
	DeadReason() error
	// Wait waits for the child's process to end: nil for exit status 0,
	// else an error ExitStatus reads (or the method's own, a lost
	// connection). ctx bounds the wait only.
	Wait(ctx context.Context) error
	// Signal sends sig to the child's process (group) where the method can
	// (runner.Caps.Signal); otherwise the error wraps
	// errors.ErrUnsupported. os.ErrProcessDone once the process has ended.
	Signal(ctx context.Context, sig runner.Signal) error
	// Info describes the child: method, host, user, process ID there.
	Info() Info
	// Kill ends the child at once, the most forceful way its method has
	// (SIGKILL for a local process). It is safe to call more than once and
	// after the child is gone.
	Kill() error
	// Shutdown stops the child gracefully, then forcefully, and waits for
	// it to go. It is safe to call more than once.
	Shutdown(ctx context.Context) error
}

var _ Child = (*Context)(nil)

// Info describes a running child for the user: how it was reached and
// where it runs.
type Info struct {
	Method string // "local", "ssh", "command", "kubectl", "docker", "sudo", ...
	Host   string // host, container or pod; "" for this host
	User   string // the user it runs as, where known
	Pid    int    // the child's process ID on its host (in its PID namespace)
	// Via is the context that started the child and holds its process
	// (Common.Via); 0 when this context did.
	Via uint32
	// Boot says how the bootstrap went (zero for local children).
	Boot BootstrapInfo
}

// BootstrapInfo says how a bootstrapped child was started.
type BootstrapInfo struct {
	Host       string // the target, as messages name it (user@host:port for SSH)
	Platform   string // GOOS/GOARCH of the remote host
	Pid        int    // process ID of the child context on the remote host
	Dir        string // cache directory the binary runs from
	CacheHit   bool   // the binary was in the cache: nothing was uploaded
	Codec      string // encoding of the upload: zstd, gzip or raw
	Uploaded   int64  // bytes of the binary sent (0 on a cache hit)
	DigestTool string // remote tool that verified the upload
	// Shared: the binary was missing and this start waited for another
	// start of the same node uploading it to the same host and directory,
	// instead of uploading it again (docs/bootstrap.md). CacheHit is true.
	Shared bool

	Connect   time.Duration // SSH: TCP, key exchange and authentication, all hops
	Bootstrap time.Duration // stage 1 until the binary runs, upload included
	Upload    time.Duration // upload and verification alone
	Handshake time.Duration // the Spindle handshake with the child
	Build     time.Duration // waiting for Bootstrap.Build (0 when it was not asked)
	Built     bool          // the binary was built on demand for this platform (or found in the build cache)
}
