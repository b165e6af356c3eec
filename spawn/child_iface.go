package spawn

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
)

// Child is a started child context, whatever started it (a local process,
// an SSH session, a container). Supervisors hold children through this
// interface. Implementations are safe for concurrent use.
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
	// Kill ends the child at once (SIGKILL for a local process). It is safe
	// to call more than once and after the child is gone.
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
	// Boot says how the bootstrap went (zero for local children).
	Boot BootstrapInfo
}
