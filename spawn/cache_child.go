package spawn

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/spindle-go/spindle/spawn/internal/boot"
)

// cacheUpkeep is a bootstrapped context's side of its binary cache
// (docs/bootstrap.md, "Cache upkeep"): it holds the binary it runs from
// in use (a shared lock, for the process's life) and prunes that
// directory once, in the background, under the policy its parent sent.
type cacheUpkeep struct {
	lock   *os.File
	dir    string
	policy boot.CachePolicy
	cancel context.CancelFunc
	done   chan struct{}
}

// holdCachedBinary locks this program's binary when it runs from a
// bootstrap cache; nil otherwise (a local child, a program run by hand).
func holdCachedBinary(log *slog.Logger) *cacheUpkeep {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	dir, ok := boot.CachedBinaryDir(exe)
	if !ok {
		return nil
	}
	c := &cacheUpkeep{dir: dir}
	if c.lock, err = boot.LockInUse(exe); err != nil {
		log.Debug("spindle child: binary not locked in use", "path", exe, "err", err)
	}
	if c.policy, err = boot.ParseCachePolicy(os.Getenv(boot.CachePolicyEnv)); err != nil {
		log.Warn("spindle child: cache policy", "err", err)
		c.policy = boot.CachePolicy{Off: true}
	}
	return c
}

// prune starts the background prune of the cache directory.
func (c *cacheUpkeep) prune(log *slog.Logger) {
	if c == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		pruneAndLog(ctx, log, c.dir, c.policy)
	}()
}

// close stops a prune under way, waits for it, and releases the lock.
func (c *cacheUpkeep) close() {
	if c == nil {
		return
	}
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
	if c.lock != nil {
		_ = c.lock.Close()
	}
}

// pruneAndLog prunes dir and logs what it did: Info when it ran, Debug
// when it was skipped (recent, busy, off).
func pruneAndLog(ctx context.Context, log *slog.Logger, dir string, p boot.CachePolicy) {
	begin := time.Now()
	rep, err := boot.PruneCache(ctx, dir, p, begin)
	switch {
	case err != nil:
		log.Warn("cache prune failed", "dir", dir, "err", err)
	case rep.Skipped != "":
		log.Debug("cache prune skipped", "dir", dir, "why", rep.Skipped)
	default:
		log.Info("cache pruned", "dir", dir, "removed", len(rep.Removed), "freed", rep.Freed,
			"kept", rep.Kept, "bytes", rep.Bytes, "over", rep.Over, "failed", len(rep.Failed),
			"scanned", rep.Scanned, "took", time.Since(begin).Round(time.Microsecond))
	}
}
