package spawn

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spindle-go/spindle/actors"
)

// Environment variables a parent sets for a local child context.
const (
	envChild    = "SPINDLE_CHILD"     // "1" in a child context
	envLink     = "SPINDLE_LINK"      // "pipe:R,W", "sock:FD" or "stdio": where the link is
	envLogLevel = "SPINDLE_LOG_LEVEL" // minimum level of forwarded records
)

// childShutdownGrace bounds how long a stopping child waits for its own
// children before it exits anyway.
const childShutdownGrace = 5 * time.Second

// IsChild reports whether this process was started as a child context.
func IsChild() bool { return os.Getenv(envChild) == "1" }

// Main runs this process as a child context when it was started as one, and
// returns at once otherwise. In a child it never returns: it exits with
// status 0 when its parent link closes or its parent asks it to stop, and
// with status 2 when the context cannot start. setup registers message
// types and actor kinds; pass the same function the parent uses.
func Main(setup func(*actors.Node) error) {
	if !IsChild() {
		return
	}
	os.Exit(runChild(setup))
}

func runChild(setup func(*actors.Node) error) int {
	level := slog.LevelInfo
	if v := os.Getenv(envLogLevel); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	fwd := actors.NewForwardHandler(level, slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	logger := slog.New(fwd)
	var cache *cacheUpkeep
	if os.Getenv(envLink) == "stdio" { // started by the bootstrap: from a cache
		cache = holdCachedBinary(logger)
		defer cache.close()
	}
	t, err := childTransport(os.Getenv(envLink))
	if err != nil {
		logger.Error("spindle child: bad link", "err", err)
		return 2
	}
	// The handler is attached in Setup, before the link starts: a message
	// can arrive, and its actor log, as soon as the handshake ends, while
	// this goroutine has not yet returned from Join (until the link is up
	// records go to the fallback, as before Attach).
	setupVia := withVia(setup)
	attachThenSetup := func(n *actors.Node) error {
		fwd.Attach(n)
		return setupVia(n)
	}
	node, err := actors.Join(context.Background(), actors.Config{Logger: logger, Setup: attachThenSetup}, t)
	if err != nil {
		logger.Error("spindle child: cannot join parent", "err", err)
		return 2
	}
	cache.prune(logger) // once up, in the background; its report reaches the parent
	<-node.Stopping()
	ctx, cancel := context.WithTimeout(context.Background(), childShutdownGrace)
	defer cancel()
	_ = node.Shutdown(ctx)
	return 0
}

// childTransport opens the link the parent left on inherited descriptors.
func childTransport(spec string) (actors.Transport, error) {
	if spec == "stdio" { // started by the SSH bootstrap
		return stdioTransport()
	}
	kind, fds, ok := strings.Cut(spec, ":")
	if !ok {
		return actors.Transport{}, fmt.Errorf("spawn: %s=%q is not KIND:FDS", envLink, spec)
	}
	var nums []int
	for _, s := range strings.Split(fds, ",") {
		fd, err := strconv.Atoi(s)
		if err != nil || fd < 3 {
			return actors.Transport{}, fmt.Errorf("spawn: %s=%q: bad descriptor %q", envLink, spec, s)
		}
		nums = append(nums, fd)
	}
	switch {
	case kind == "pipe" && len(nums) == 2:
		// Inherited descriptors arrive blocking; non-blocking ones go into
		// the runtime poller, so Close unblocks a pending Read. They also
		// arrive without close-on-exec: a command this context starts
		// would hold the link open, and the parent would see this
		// context's death only when that command exits.
		for _, fd := range nums {
			syscall.CloseOnExec(fd)
			if err := syscall.SetNonblock(fd, true); err != nil {
				return actors.Transport{}, fmt.Errorf("spawn: link descriptor %d: %w", fd, err)
			}
		}
		r := os.NewFile(uintptr(nums[0]), "spindle-link-r")
		w := os.NewFile(uintptr(nums[1]), "spindle-link-w")
		return actors.Transport{R: r, W: w, C: closers{r, w}}, nil
	case kind == "sock" && len(nums) == 1:
		f := os.NewFile(uintptr(nums[0]), "spindle-link")
		c, err := net.FileConn(f)
		_ = f.Close()
		if err != nil {
			return actors.Transport{}, fmt.Errorf("spawn: link socket: %w", err)
		}
		return actors.Transport{R: c, W: c, C: c}, nil
	}
	return actors.Transport{}, fmt.Errorf("spawn: %s=%q: unknown link kind", envLink, spec)
}

// closers closes several things, returning the first error.
type closers []interface{ Close() error }

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
