package spawn

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/internal/progress"
	"github.com/spindle-go/spindle/spawn/internal/boot"
)

// Binary forwarding through hops (docs/via.md, "Binaries through hops").
// Every context serves the calls service spindle.binary to its
// descendants: "get" {digest, offset, length} answers one chunk of a
// binary it holds by content address. The root holds its own program and
// the binaries it offered in via starts; an intermediate holds its own
// program and what it fetched from its parent, which it fetches (once,
// single-flight) when a child asks for a digest it lacks. The chunked
// pull, one chunk in flight per transfer, is GET_BINARY (the request) and
// LOAD_BINARY (the answer) carried by CALL_SERVICE; an intermediate asking
// its own parent for a child is FORWARD_BINARY.
const (
	binService = "spindle.binary"
	// binChunk is the most bytes one get answers (a larger ask is cut).
	binChunk = 256 << 10
	// binMaxFlights bounds the distinct digests fetched from the parent at
	// once; binMaxSize the size of a binary fetched.
	binMaxFlights = 4
	binMaxSize    = 1 << 30
	binStoreID    = "$spindle.binaries"
	// binCodec is the encoding between hops that both link it (package
	// spawn/compress); raw bytes otherwise.
	binCodec = "zstd"
	// BinaryCacheEnv names the directory an intermediate keeps fetched
	// binaries in (absolute, private to the user); default
	// $XDG_CACHE_HOME/spindle/binaries (or ~/.cache/...), else a fresh
	// private temporary directory removed at shutdown.
	BinaryCacheEnv = "SPINDLE_BINARY_CACHE"
)

// ErrUnknownBinary is the answer to a get for a digest the context does
// not hold and (at the root) never offered.
var ErrUnknownBinary = errors.New("spawn: no such binary on offer")

// ErrBinaryBusy is the answer to a get for a digest an intermediate would
// have to fetch while it already fetches the most it does at once.
var ErrBinaryBusy = errors.New("spawn: too many binary fetches under way")

// ErrBinaryDigest is the error of a fetched binary whose bytes do not
// have the SHA-256 they were asked by.
var ErrBinaryDigest = errors.New("spawn: fetched binary does not match its digest")

type (
	binGetReq struct {
		Digest string
		Off, N int64
		// Codec "zstd" asks for the zstd form of the binary (offsets and
		// Size are then those of the encoded bytes); "" the raw bytes.
		Codec string
	}
	binGetResp struct {
		Platform string
		Size     int64 // of the bytes asked for (encoded with Codec)
		Data     []byte
	}
	// viaBinary is one binary on offer in a via start: the intermediate
	// may fetch it from its parent. Own: given by the caller
	// (Bootstrap.Binaries), which wins over the intermediate's program for
	// its platform; else the origin's own program, used only for another
	// platform than the intermediate's.
	viaBinary struct {
		Platform, Digest string
		Size             int64
		Own              bool
	}
)

// BinaryStats counts a context's binary service (spawn.BinaryStatsOf).
type BinaryStats struct {
	Served  int64 // bytes answered to descendants (as sent: zstd between hops)
	Chunks  int64 // get calls answered with data
	Fetches int64 // binaries fetched from the parent (cache misses)
	Fetched int64 // bytes fetched from the parent (as received)
	Memory  int64 // bytes held in the memory cache (BinaryCacheMemory)
}

// binStore is a node's binaries by digest, and its fetches in flight.
type binStore struct {
	node *actors.Node
	ep   *calls.Endpoint

	mu      sync.Mutex
	have    map[string]*boot.Binary
	flights map[string]*binFlight
	dir     string         // cache directory, "" until first needed
	tmpDir  bool           // dir is ours to remove at shutdown
	locks   []*os.File     // in-use locks of the cached binaries held (boot.LockInUse)
	pruning sync.WaitGroup // the background prune of dir (docs/bootstrap.md, "Cache upkeep")
	pruned  bool           // started once per store

	served, chunks, fetches, fetched atomic.Int64

	mem *memCache // binaries in memory (via_memcache.go); nil: in dir

	// selfOnce adds this context's own program to have on first need:
	// hashing it (SHA-256 of the whole executable, ~15 ms for 17 MB) at
	// every node's setup tripled the time to spawn a child.
	selfOnce sync.Once
}

type binFlight struct {
	done chan struct{}
	bin  *boot.Binary
	err  error
}

type storeProc struct{ s *binStore }

func (storeProc) SendUserMessage(*actor.PID, any)   {}
func (storeProc) SendSystemMessage(*actor.PID, any) {}
func (storeProc) Stop(*actor.PID)                   {}

var binStoreMu sync.Mutex

// BinaryStatsOf returns the counters of node's binary service (zero when
// it serves none yet). It is safe for concurrent use.
func BinaryStatsOf(node *actors.Node) BinaryStats {
	p, ok := node.System().ProcessRegistry.GetLocal(binStoreID)
	if !ok {
		return BinaryStats{}
	}
	s := p.(storeProc).s
	st := BinaryStats{Served: s.served.Load(), Chunks: s.chunks.Load(), Fetches: s.fetches.Load(), Fetched: s.fetched.Load()}
	s.mu.Lock()
	m := s.mem
	s.mu.Unlock()
	if m != nil {
		m.mu.Lock()
		st.Memory = m.used
		m.mu.Unlock()
	}
	return st
}

// binStoreOf returns node's store, registering the service on first use.
func binStoreOf(node *actors.Node, ep *calls.Endpoint) (*binStore, error) {
	binStoreMu.Lock()
	defer binStoreMu.Unlock()
	if p, ok := node.System().ProcessRegistry.GetLocal(binStoreID); ok {
		return p.(storeProc).s, nil
	}
	s := &binStore{node: node, ep: ep, have: map[string]*boot.Binary{}, flights: map[string]*binFlight{}}
	// Descendants only: a child asks its parent, never its children.
	svc, err := calls.NewService(ep, binService, calls.ServiceConfig{Policy: calls.Descendants, MaxConcurrent: 8, MaxQueued: 64})
	if err == nil {
		err = calls.Method(svc, "get", s.get)
	}
	if err != nil {
		return nil, fmt.Errorf("spawn: binary service: %w", err)
	}
	node.System().ProcessRegistry.Add(storeProc{s}, binStoreID)
	node.OnShutdown(func(context.Context) error {
		s.pruning.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, f := range s.locks {
			_ = f.Close()
		}
		if s.tmpDir {
			_ = os.RemoveAll(s.dir)
		}
		return nil
	})
	return s, nil
}

// holdSelf adds this context's own program to the store (once, lazily).
func (s *binStore) holdSelf() {
	s.selfOnce.Do(func() {
		self, err := Self()
		if err != nil || self.Prepare() != nil {
			return
		}
		d, _ := self.Digest()
		s.mu.Lock()
		if s.have[d] == nil {
			s.have[d] = self
		}
		s.mu.Unlock()
	})
}

// offer makes bins servable to descendants (the origin of a via start).
func (s *binStore) offer(bins []*Binary) ([]viaBinary, error) {
	var table []viaBinary
	for _, b := range bins {
		if err := b.Prepare(); err != nil {
			return nil, err
		}
		d, _ := b.Digest()
		p, _ := b.Platform()
		n, _ := b.Size()
		s.mu.Lock()
		if s.have[d] == nil {
			s.have[d] = b
		}
		s.mu.Unlock()
		table = append(table, viaBinary{Platform: p, Digest: d, Size: n, Own: true})
	}
	return table, nil
}

// get answers one chunk of a binary held here, fetching it from the
// parent first when this context is not the root.
func (s *binStore) get(ctx context.Context, r *binGetReq) (*binGetResp, error) {
	if !boot.ValidDigest(r.Digest) || r.Off < 0 || r.N <= 0 {
		return nil, fmt.Errorf("spawn: binary get %.80q at %d+%d: bad request", r.Digest, r.Off, r.N)
	}
	b, err := s.obtain(ctx, r.Digest)
	if err != nil {
		return nil, err
	}
	platform, _ := b.Platform()
	var src io.ReaderAt
	var size int64
	switch r.Codec {
	case "":
		f, err := os.Open(b.Path())
		if err != nil {
			return nil, fmt.Errorf("spawn: binary get: %w", err)
		}
		defer f.Close()
		src = f
		size, _ = b.Size()
	case binCodec: // the form the bootstrap uploads too: encoded once per Binary
		data, err := b.Encoded(binCodec)
		if err != nil {
			return nil, fmt.Errorf("spawn: binary get: %w", err)
		}
		src, size = bytes.NewReader(data), int64(len(data))
	default:
		return nil, fmt.Errorf("spawn: binary get: unknown codec %.20q", r.Codec)
	}
	if r.Off > size {
		return nil, fmt.Errorf("spawn: binary get at %d beyond its %d bytes", r.Off, size)
	}
	buf := make([]byte, min(r.N, binChunk, size-r.Off))
	if _, err := src.ReadAt(buf, r.Off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("spawn: binary get: %w", err)
	}
	s.served.Add(int64(len(buf)))
	s.chunks.Add(1)
	return &binGetResp{Platform: platform, Size: size, Data: buf}, nil
}

// obtain returns the binary with digest d: held here, or fetched from the
// parent once however many ask at the same time.
func (s *binStore) obtain(ctx context.Context, d string) (*boot.Binary, error) {
	s.holdSelf()
	s.mu.Lock()
	if b := s.have[d]; b != nil {
		s.mu.Unlock()
		return b, nil
	}
	parents := s.node.Parents()
	if len(parents) == 0 {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrUnknownBinary, d)
	}
	f := s.flights[d]
	lead := f == nil
	if lead {
		if len(s.flights) >= binMaxFlights {
			s.mu.Unlock()
			return nil, fmt.Errorf("spawn: binary %s: %d fetches under way: %w", d, binMaxFlights, ErrBinaryBusy)
		}
		f = &binFlight{done: make(chan struct{})}
		s.flights[d] = f
	}
	s.mu.Unlock()
	if lead {
		f.bin, f.err = s.download(ctx, parents[len(parents)-1], d) // the parent (root first)
		s.mu.Lock()
		delete(s.flights, d)
		if f.err == nil {
			s.have[d] = f.bin
		}
		s.mu.Unlock()
		close(f.done)
	}
	select {
	case <-f.done:
		return f.bin, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// download fetches d from parent chunk by chunk into the cache directory,
// verifying its SHA-256 before it is named for it (a file already there is
// verified too, and costs no fetch).
func (s *binStore) download(ctx context.Context, parent uint32, d string) (*boot.Binary, error) {
	dir, err := s.cacheDir()
	if errors.Is(err, errMemoryCache) {
		return s.downloadMemory(ctx, parent, d)
	}
	if err != nil {
		return nil, err
	}
	final := filepath.Join(dir, "spindle-"+d)
	if b := cachedBinary(final, d); b != nil {
		s.hold(final)
		return b, nil
	}
	s.fetches.Add(1)
	tmp, err := os.CreateTemp(dir, ".spindle-"+d+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("spawn: binary cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	defer tmp.Close()
	h := sha256.New()
	platform, err := s.pull(ctx, parent, d, io.MultiWriter(tmp, h))
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d {
		return nil, fmt.Errorf("spawn: fetch binary %s: got %s: %w", d, got, ErrBinaryDigest)
	}
	if err := tmp.Chmod(0o700); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return nil, fmt.Errorf("spawn: binary cache: %w", err)
	}
	b := NewBinary(final, platform)
	if err := b.Prepare(); err != nil {
		return nil, err
	}
	if got, _ := b.Digest(); got != d { // replaced between write and use
		return nil, fmt.Errorf("spawn: binary cache %s: %w", final, ErrBinaryDigest)
	}
	s.hold(final)
	s.prune(dir)
	return b, nil
}

// hold keeps the cached binary at path in use while this store serves it
// (until shutdown), so that no pruner removes it.
func (s *binStore) hold(path string) {
	f, err := boot.LockInUse(path)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.locks = append(s.locks, f)
	s.mu.Unlock()
}

// prune prunes the hop cache once per store, in the background, after it
// grew, under the policy this context was started with (boot.CachePolicyEnv;
// the defaults without one). A temporary directory is not pruned.
func (s *binStore) prune(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pruned || s.tmpDir {
		return
	}
	s.pruned = true
	p, err := boot.ParseCachePolicy(os.Getenv(boot.CachePolicyEnv))
	if err != nil {
		return
	}
	s.pruning.Add(1)
	go func() {
		defer s.pruning.Done()
		pruneAndLog(context.Background(), s.node.Logger(), dir, p)
	}()
}

// pull fetches d from parent chunk by chunk, one chunk in flight, into w
// (at most binMaxSize bytes), and returns the platform the parent named:
// its zstd form decoded on the way when this program links zstd (package
// spawn/compress) and the parent does too, else the raw bytes.
func (s *binStore) pull(ctx context.Context, parent uint32, d string, w io.Writer) (string, error) {
	if c, ok := boot.CodecOf(binCodec); ok {
		platform, err := s.pullDecoded(ctx, parent, d, w, c)
		if !errors.Is(err, boot.ErrNoCodec) { // the parent cannot encode it: nothing came yet
			return platform, err
		}
	}
	return s.pullEncoded(ctx, parent, d, "", w)
}

// pullDecoded is pull of d's zstd form, decoded with c.
func (s *binStore) pullDecoded(ctx context.Context, parent uint32, d string, w io.Writer, c boot.Codec) (string, error) {
	pr, pw := io.Pipe()
	decoded := make(chan error, 1)
	go func() {
		dec, err := c.NewReader(pr, 64<<20)
		if err == nil {
			var n int64
			n, err = io.Copy(w, io.LimitReader(dec, binMaxSize+1))
			_ = dec.Close()
			if err == nil && n > binMaxSize {
				err = fmt.Errorf("spawn: fetch binary %s: more than %d bytes decoded", d, binMaxSize)
			}
		}
		pr.CloseWithError(err) // a decoder that stopped early fails the writes below
		decoded <- err
	}()
	platform, err := s.pullEncoded(ctx, parent, d, binCodec, pw)
	pw.CloseWithError(err)
	if derr := <-decoded; err == nil {
		err = derr
	}
	return platform, err
}

// pullEncoded writes the bytes of d's form codec ("" raw) into w as they
// come.
func (s *binStore) pullEncoded(ctx context.Context, parent uint32, d, codec string, w io.Writer) (_ string, err error) {
	var platform string
	var off, size int64 = 0, -1
	var m *progress.Meter // logs the fetch once its size is known
	defer func() { m.End(err) }()
	for size < 0 || off < size {
		resp, err := calls.CallService[binGetReq, binGetResp](ctx, s.ep, parent, binService, "get",
			&binGetReq{Digest: d, Off: off, N: binChunk, Codec: codec})
		if err != nil {
			return "", fmt.Errorf("spawn: fetch binary %s from context %d: %w", d, parent, err)
		}
		switch {
		case size < 0 && (resp.Size <= 0 || resp.Size > binMaxSize || !boot.ValidPlatform(resp.Platform)):
			return "", fmt.Errorf("spawn: fetch binary %s: parent offers %q of %d bytes", d, resp.Platform, resp.Size)
		case size >= 0 && (resp.Size != size || resp.Platform != platform):
			return "", fmt.Errorf("spawn: fetch binary %s: size or platform changed under way", d)
		case len(resp.Data) == 0 || int64(len(resp.Data)) > resp.Size-off:
			return "", fmt.Errorf("spawn: fetch binary %s: chunk of %d bytes at %d of %d", d, len(resp.Data), off, resp.Size)
		}
		if size < 0 {
			m = progress.Start(s.node.Logger(), progress.Spec{Op: "fetch", Target: "context " + strconv.FormatUint(uint64(parent), 10),
				Total: resp.Size, Attrs: []any{"digest", d, "codec", cmp.Or(codec, "raw")}})
		}
		size, platform = resp.Size, resp.Platform
		if _, err := w.Write(resp.Data); err != nil {
			return "", fmt.Errorf("spawn: fetch binary %s: %w", d, err)
		}
		off += int64(len(resp.Data))
		m.Update(off)
		s.fetched.Add(int64(len(resp.Data)))
	}
	return platform, nil
}

// cachedBinary is the file at path when it has digest d (its platform
// read from its build information), else nil.
func cachedBinary(path, d string) *Binary {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	b := NewBinary(path, "")
	if b.Prepare() != nil {
		return nil
	}
	if got, _ := b.Digest(); got != d {
		return nil
	}
	return b
}

// cacheDir picks, once, a directory private to this user for fetched
// binaries: BinaryCacheEnv, the user's cache directory, else a fresh
// temporary one; else (or when BinaryCacheEnv is BinaryCacheMemory)
// memory: errMemoryCache.
func (s *binStore) cacheDir() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir != "" {
		return s.dir, nil
	}
	if s.memoryCache(false) {
		return "", errMemoryCache
	}
	var tries []string
	if d := os.Getenv(BinaryCacheEnv); filepath.IsAbs(d) {
		tries = append(tries, d)
	}
	if d, err := os.UserCacheDir(); err == nil {
		tries = append(tries, filepath.Join(d, "spindle", "binaries"))
	}
	for _, d := range tries {
		if privateDir(d) {
			s.dir = d
			return d, nil
		}
	}
	d, err := os.MkdirTemp("", "spindle-binaries-")
	if err != nil && s.memoryCache(true) {
		return "", errMemoryCache
	}
	if err != nil {
		return "", fmt.Errorf("spawn: binary cache: %w", err)
	}
	s.dir, s.tmpDir = d, true
	return d, nil
}

// privateDir makes d (0700) and reports whether it belongs to this user
// and nobody else may write it.
func privateDir(d string) bool {
	if os.MkdirAll(d, 0o700) != nil {
		return false
	}
	fi, err := os.Stat(d)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || int(st.Uid) == os.Getuid()
}

// binariesFor turns the table of a via start into the binaries the
// intermediate's bootstraps offer: each fetched from the parent only when
// a target's cache misses it.
func (s *binStore) binariesFor(table []viaBinary) []*Binary {
	mine := runtime.GOOS + "/" + runtime.GOARCH
	s.holdSelf()
	var out []*Binary
	for _, v := range table {
		if !v.Own && v.Platform == mine {
			continue // this context's own program serves its platform
		}
		s.mu.Lock()
		b := s.have[v.Digest]
		s.mu.Unlock()
		if b == nil {
			d := v.Digest
			b = boot.NewRemoteBinary(v.Platform, d, v.Size, func(ctx context.Context) (*boot.Binary, error) { return s.obtain(ctx, d) })
		}
		out = append(out, b)
	}
	return out
}

type viaBinariesKey struct{}

// withViaBinaries carries a via start's binaries to spawn.Start.
func withViaBinaries(ctx context.Context, bins []*Binary) context.Context {
	if len(bins) == 0 {
		return ctx
	}
	return context.WithValue(ctx, viaBinariesKey{}, bins)
}

func viaBinariesOf(ctx context.Context) []*Binary {
	b, _ := ctx.Value(viaBinariesKey{}).([]*Binary)
	return b
}

// offerBinaries makes bins and this program servable by node to its
// descendants, and returns their table for a via start.
func offerBinaries(node *actors.Node, ep *calls.Endpoint, bins []*Binary) ([]viaBinary, error) {
	s, err := binStoreOf(node, ep)
	if err != nil {
		return nil, err
	}
	table, err := s.offer(bins)
	if err != nil {
		return nil, err
	}
	if self, err := Self(); err == nil && self.Prepare() == nil {
		mine, err := s.offer([]*Binary{self})
		if err != nil {
			return nil, err
		}
		mine[0].Own = false
		table = append(table, mine...)
	}
	return table, nil
}
