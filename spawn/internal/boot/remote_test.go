package boot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestRemoteBinary_FetchedOnUseOnly: a remote binary is prepared from its
// table entry without a fetch; resolve fetches once and keeps the result;
// a fetch that gives other bytes is refused.
func TestRemoteBinary_FetchedOnUseOnly(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	path := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(path, []byte("a program"), 0o700); err != nil {
		t.Fatal(err)
	}
	real := NewBinary(path, platform)
	if err := real.Prepare(); err != nil {
		t.Fatal(err)
	}
	fetches := 0
	rb := NewRemoteBinary(platform, real.digest, real.size, func(context.Context) (*Binary, error) {
		fetches++
		return real, nil
	})
	if err := PrepareAll([]*Binary{rb}); err != nil || fetches != 0 {
		t.Fatalf("prepare: %v, %d fetches", err, fetches)
	}
	for range 2 {
		src, err := rb.resolve(context.Background())
		if err != nil || src != real {
			t.Fatalf("resolve: %v %v", src, err)
		}
	}
	if fetches != 1 {
		t.Fatalf("%d fetches, want 1", fetches)
	}
	liar := NewRemoteBinary(platform, strings.Repeat("0", 64), real.size, func(context.Context) (*Binary, error) { return real, nil })
	if _, err := liar.resolve(context.Background()); err == nil {
		t.Fatal("a fetch with another digest was accepted")
	}
	failing := NewRemoteBinary(platform, real.digest, real.size, func(context.Context) (*Binary, error) { return nil, os.ErrNotExist })
	if _, err := failing.resolve(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err %v", err)
	}
	for _, bad := range []*Binary{
		NewRemoteBinary("linux", real.digest, 1, nil),
		NewRemoteBinary(platform, "../../etc/passwd", 1, nil),
		NewRemoteBinary(platform, real.digest, 0, nil),
	} {
		bad.fetch = func(context.Context) (*Binary, error) { return real, nil }
		if bad.Prepare() == nil {
			t.Fatalf("remote binary %q %q %d prepared", bad.platform, bad.digest, bad.size)
		}
	}
}
