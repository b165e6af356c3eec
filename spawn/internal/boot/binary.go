package boot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
)

// Binary is a program that the bootstrap ships to targets: a Go binary
// whose main calls Main first, built for one platform. It computes its
// digest and its compressed forms once and keeps them, so reuse one Binary
// for many spawns. A Binary is safe for concurrent use.
type Binary struct {
	path     string
	platform string // "goos/goarch"; empty until prepared if not given

	once   sync.Once
	digest string // hex SHA-256
	size   int64
	err    error

	mu     sync.Mutex
	packed map[string]*packedBinary // by codec

	// A remote binary (NewRemoteBinary): its bytes come from fetch.
	fetch func(ctx context.Context) (*Binary, error)
	src   *Binary // what fetch gave, guarded by mu
}

type packedBinary struct {
	once sync.Once
	data []byte
	err  error
}

// NewBinary describes the program at path for platform ("linux/arm64").
// An empty platform is read from the Go build information recorded in the
// file. Nothing is read until the first spawn that needs it.
func NewBinary(path, platform string) *Binary {
	return &Binary{path: path, platform: platform, packed: map[string]*packedBinary{}}
}

// self is the running program, described once per process: it does not
// change while the process runs.
var self = sync.OnceValues(func() (*Binary, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("spawn: find own executable: %w", err)
	}
	return NewBinary(exe, runtime.GOOS+"/"+runtime.GOARCH), nil
})

// Self returns the running program as a Binary (the default binary of
// every bootstrapped context). Its digest is computed once per process.
func Self() (*Binary, error) { return self() }

// Path returns the file the binary is read from.
func (b *Binary) Path() string { return b.path }

// Platform returns "goos/goarch", reading the build information if needed.
func (b *Binary) Platform() (string, error) {
	if err := b.prepare(); err != nil {
		return "", err
	}
	return b.platform, nil
}

// Digest returns the hex SHA-256 of the file, the name it is cached under.
func (b *Binary) Digest() (string, error) {
	if err := b.prepare(); err != nil {
		return "", err
	}
	return b.digest, nil
}

// Size returns the size of the file in bytes.
func (b *Binary) Size() (int64, error) {
	if err := b.prepare(); err != nil {
		return 0, err
	}
	return b.size, nil
}

// Prepare reads the file once: its platform (if not given), digest and
// size. Later calls return the first result.
func (b *Binary) Prepare() error { return b.prepare() }

func (b *Binary) prepare() error {
	b.once.Do(func() { b.err = b.load() })
	return b.err
}

func (b *Binary) load() error {
	if b.fetch != nil {
		if !ValidPlatform(b.platform) || !ValidDigest(b.digest) || b.size <= 0 {
			return fmt.Errorf("spawn: remote binary %q %q (%d bytes) is not a platform, a SHA-256 and a size", b.platform, b.digest, b.size)
		}
		return nil
	}
	if b.platform == "" {
		p, err := filePlatform(b.path)
		if err != nil {
			return fmt.Errorf("spawn: binary %s: no Go build information naming GOOS/GOARCH (%v); give its platform", b.path, err)
		}
		b.platform = p
	}
	if !ValidPlatform(b.platform) {
		return fmt.Errorf("spawn: binary %s: platform %q is not GOOS/GOARCH", b.path, b.platform)
	}
	f, err := os.Open(b.path)
	if err != nil {
		return fmt.Errorf("spawn: binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("spawn: binary %s: %w", b.path, err)
	}
	b.digest, b.size = hex.EncodeToString(h.Sum(nil)), n
	return nil
}

// Codecs a target may be able to decode, best first.
const (
	codecZstd = "zstd"
	codecGzip = "gzip"
	codecRaw  = "raw"
)

// Encoded returns the file encoded with codec, computed once per codec. It
// fails if the file no longer has the digest it was first read with.
func (b *Binary) Encoded(codec string) ([]byte, error) {
	if err := b.prepare(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	p := b.packed[codec]
	if p == nil {
		p = &packedBinary{}
		b.packed[codec] = p
	}
	b.mu.Unlock()
	p.once.Do(func() { p.data, p.err = b.encode(codec) })
	return p.data, p.err
}

func (b *Binary) encode(codec string) ([]byte, error) {
	raw, err := os.ReadFile(b.path)
	if err != nil {
		return nil, fmt.Errorf("spawn: binary: %w", err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != b.digest {
		return nil, fmt.Errorf("spawn: binary %s changed since it was first read (rebuilt?)", b.path)
	}
	if codec == codecRaw {
		return raw, nil
	}
	c, ok := CodecOf(codec)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoCodec, codec)
	}
	return c.Encode(raw)
}

// Expected returns what the remote digest tool prints for this binary:
// the hex SHA-256, or "CRC SIZE" for POSIX cksum.
func (b *Binary) Expected(tool string) (string, error) {
	if tool != "cksum" {
		return b.digest, nil
	}
	f, err := os.Open(b.path)
	if err != nil {
		return "", fmt.Errorf("spawn: binary: %w", err)
	}
	defer f.Close()
	var c posixCksum
	n, err := io.Copy(&c, f)
	if err != nil {
		return "", fmt.Errorf("spawn: binary %s: %w", b.path, err)
	}
	return strconv.FormatUint(uint64(c.Sum(n)), 10) + " " + strconv.FormatInt(n, 10), nil
}

// posixCksum computes the checksum of POSIX cksum(1): CRC-32 with
// polynomial 0x04C11DB7, most significant bit first, over the data and
// then its length, complemented.
type posixCksum struct{ crc uint32 }

// cksumTable is made on first use: only a target without sha256sum needs it.
var cksumTable = sync.OnceValue(func() *[256]uint32 {
	var t [256]uint32
	for i := range t {
		c := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return &t
})

func (p *posixCksum) Write(b []byte) (int, error) {
	c, tab := p.crc, cksumTable()
	for _, x := range b {
		c = c<<8 ^ tab[byte(c>>24)^x]
	}
	p.crc = c
	return len(b), nil
}

// Sum finishes the checksum of n bytes written so far.
func (p *posixCksum) Sum(n int64) uint32 {
	c, tab := p.crc, cksumTable()
	for ; n > 0; n >>= 8 {
		c = c<<8 ^ tab[byte(c>>24)^byte(n)]
	}
	return ^c
}

// For returns the first binary for platform, or nil.
func For(bins []*Binary, platform string) *Binary {
	for _, b := range bins {
		if b.platform == platform {
			return b
		}
	}
	return nil
}

// Offered returns the binaries on offer: the caller's, then the running
// program.
func Offered(extra []*Binary) ([]*Binary, error) {
	me, err := Self()
	if err != nil {
		return nil, err
	}
	return append(append([]*Binary(nil), extra...), me), nil
}

// PrepareAll prepares every binary (digests are computed once per Binary).
func PrepareAll(bins []*Binary) error {
	for _, b := range bins {
		if err := b.prepare(); err != nil {
			return err
		}
	}
	return nil
}

// OnePerPlatform keeps the first prepared binary of each platform: the
// caller's win over the running program.
func OnePerPlatform(bins []*Binary) []*Binary {
	seen := map[string]bool{}
	var out []*Binary
	for _, b := range bins {
		if !seen[b.platform] {
			seen[b.platform] = true
			out = append(out, b)
		}
	}
	return out
}

// Table lists the prepared binaries' platforms and digests.
func Table(bins []*Binary) []PlatformDigest {
	t := make([]PlatformDigest, 0, len(bins))
	for _, b := range bins {
		t = append(t, PlatformDigest{Platform: b.platform, Digest: b.digest})
	}
	return t
}

// Platforms lists the platforms on offer, the running program (last) first.
func Platforms(bins []*Binary) []string {
	var out []string
	for i := len(bins) - 1; i >= 0; i-- {
		out = append(out, bins[i].platform)
	}
	return out
}

// NewRemoteBinary describes a binary known by its platform, SHA-256 and
// size only, whose bytes are asked from fetch when an upload needs them
// (an intermediate's parent, docs/via.md): a target whose cache has the
// digest costs no fetch. fetch's result must have the same digest; it is
// kept, so fetch runs once per successful upload source.
func NewRemoteBinary(platform, digest string, size int64, fetch func(ctx context.Context) (*Binary, error)) *Binary {
	return &Binary{platform: platform, digest: digest, size: size, fetch: fetch, packed: map[string]*packedBinary{}}
}

// resolve returns the binary whose file holds the bytes: b itself, or for
// a remote binary what its fetch gave (checked against the digest).
func (b *Binary) resolve(ctx context.Context) (*Binary, error) {
	if b.fetch == nil {
		return b, nil
	}
	b.mu.Lock()
	src := b.src
	b.mu.Unlock()
	if src != nil {
		return src, nil
	}
	src, err := b.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if err := src.Prepare(); err != nil {
		return nil, err
	}
	if src.digest != b.digest || src.platform != b.platform {
		return nil, fmt.Errorf("spawn: fetched binary is %s %s, want %s %s", src.platform, src.digest, b.platform, b.digest)
	}
	b.mu.Lock()
	b.src = src
	b.mu.Unlock()
	return src, nil
}

// ValidDigest reports whether s is a hex SHA-256 in lower case.
func ValidDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
