package spawn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/spindle-go/spindle/internal/platform"
	"github.com/spindle-go/spindle/spawn/internal/boot"
)

// The memory cache of a hop (docs/via.md, "Binaries through hops"): when
// no private directory can be made for fetched binaries, or
// BinaryCacheEnv says BinaryCacheMemory, an intermediate keeps them in
// anonymous memory files (memfd_create on Linux), read through
// /proc/self/fd. A hop only reads the binaries it forwards (it runs its
// own program), so the memory needs no exec permission. Its bytes are
// bounded (BinaryCacheMaxEnv): a fetch that would pass the bound fails
// with ErrBinaryCacheFull, typed at the origin, and nothing is evicted
// (a binary may be in use by a bootstrap at any time).
const (
	// BinaryCacheMemory, as the value of BinaryCacheEnv, keeps an
	// intermediate's fetched binaries in memory (Linux), never on disk.
	BinaryCacheMemory = "memory"
	// BinaryCacheMaxEnv bounds the bytes of an intermediate's memory cache
	// (a decimal number of bytes); default 512 MiB.
	BinaryCacheMaxEnv = "SPINDLE_BINARY_CACHE_MAX"

	defaultMemCacheMax = 512 << 20
)

// ErrBinaryCacheFull is the error of a fetch that would pass the bound of
// an intermediate's memory cache (BinaryCacheMaxEnv).
var ErrBinaryCacheFull = errors.New("spawn: the hop's binary cache is full")

// errMemoryCache is cacheDir's answer when binaries go to memory.
var errMemoryCache = errors.New("spawn: binaries are cached in memory")

// memCache is a store's memory files, and the bytes they hold.
type memCache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	files []*os.File
}

// newMemCache makes the store's memory cache (called with s.mu held).
func (s *binStore) newMemCache() *memCache {
	m := &memCache{max: defaultMemCacheMax}
	if v, err := strconv.ParseInt(os.Getenv(BinaryCacheMaxEnv), 10, 64); err == nil && v > 0 {
		m.max = v
	}
	s.mem = m
	s.node.OnShutdown(func(context.Context) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, f := range m.files {
			_ = f.Close()
		}
		m.files, m.used = nil, 0
		return nil
	})
	return m
}

// memoryCache reports whether binaries go to memory: asked for, or no
// directory could be made (called with s.mu held).
func (s *binStore) memoryCache(noDir bool) bool {
	if !platform.HasMemFile {
		return false
	}
	if s.mem == nil && (noDir || os.Getenv(BinaryCacheEnv) == BinaryCacheMemory) {
		s.newMemCache()
	}
	return s.mem != nil
}

// reserve counts n more bytes against the bound.
func (m *memCache) reserve(n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used+n > m.max {
		return fmt.Errorf("spawn: %d of %d bytes held: %w", m.used, m.max, ErrBinaryCacheFull)
	}
	m.used += n
	return nil
}

func (m *memCache) release(n int64) {
	m.mu.Lock()
	m.used -= n
	m.mu.Unlock()
}

// boundedMem writes to a memory file, reserving each write's bytes.
type boundedMem struct {
	f *os.File
	m *memCache
	n int64 // reserved so far
}

func (w *boundedMem) Write(p []byte) (int, error) {
	if err := w.m.reserve(int64(len(p))); err != nil {
		return 0, err
	}
	w.n += int64(len(p))
	return w.f.Write(p)
}

// downloadMemory is download into a memory file.
func (s *binStore) downloadMemory(ctx context.Context, parent uint32, d string) (*boot.Binary, error) {
	m := s.mem
	f, err := platform.MemFile("spindle-" + d[:16])
	if err != nil {
		return nil, fmt.Errorf("spawn: binary cache in memory: %w", err)
	}
	s.fetches.Add(1)
	w := &boundedMem{f: f, m: m}
	fail := func(err error) (*boot.Binary, error) {
		_ = f.Close()
		m.release(w.n)
		return nil, err
	}
	h := sha256.New()
	platformName, err := s.pull(ctx, parent, d, multiWriter{w, h})
	if err != nil {
		return fail(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d {
		return fail(fmt.Errorf("spawn: fetch binary %s: got %s: %w", d, got, ErrBinaryDigest))
	}
	b := NewBinary(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), platformName)
	if err := b.Prepare(); err != nil {
		return fail(err)
	}
	if got, _ := b.Digest(); got != d {
		return fail(fmt.Errorf("spawn: binary cache in memory: %w", ErrBinaryDigest))
	}
	m.mu.Lock()
	m.files = append(m.files, f)
	m.mu.Unlock()
	return b, nil
}

// multiWriter writes to the memory file first: a write refused by the
// bound reaches nothing else.
type multiWriter struct {
	w *boundedMem
	h interface{ Write([]byte) (int, error) }
}

func (mw multiWriter) Write(p []byte) (int, error) {
	if _, err := mw.w.Write(p); err != nil {
		return 0, err
	}
	return mw.h.Write(p)
}
