package command_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
)

// ExampleStart_binariesThroughVia supplies a binary at the root (here a
// copy of this program with another digest; in practice a build for
// another platform) for contexts started through an intermediate: the
// intermediate fetches it from the root by its SHA-256 once, verifies and
// caches it, and uploads it to each target that lacks it.
func ExampleStart_binariesThroughVia() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, _ := os.MkdirTemp("", "spindle-example-")
	defer os.RemoveAll(dir)
	self, _ := spawn.Self()
	prog, _ := os.ReadFile(self.Path())
	path := filepath.Join(dir, "other")
	_ = os.WriteFile(path, append(prog, "another build"...), 0o700)
	other := spawn.NewBinary(path, runtime.GOOS+"/"+runtime.GOARCH)

	root, err := actors.NewNode(actors.Config{Setup: setup, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		panic(err)
	}
	defer root.Shutdown(ctx)
	bastion, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "bastion",
		Env: []string{spawn.BinaryCacheEnv + "=" + filepath.Join(dir, "bastion-cache")}}})
	if err != nil {
		panic(err)
	}
	for i := range 2 {
		_, err := command.Start(ctx, root, command.Options{Common: spawn.Common{Via: bastion}, Argv: []string{"env"},
			Bootstrap: spawn.Bootstrap{Binaries: []*spawn.Binary{other}, CacheDirs: []string{filepath.Join(dir, fmt.Sprint("target-", i))}}})
		if err != nil {
			panic(err)
		}
	}
	enc, _ := other.Encoded("zstd")
	fmt.Println("sent over the root's link once:", spawn.BinaryStatsOf(root).Served == int64(len(enc)))
	// Output:
	// sent over the root's link once: true
}
