package spawn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// ExampleLocal starts a child context (this test binary, re-executed: its
// TestMain calls spawn.Main first), spawns an actor in it and asks it a
// question.
func ExampleLocal() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := actors.NewNode(actors.Config{Setup: setup, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		panic(err)
	}
	defer node.Shutdown(ctx)

	child, err := spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: "worker-1"}})
	if err != nil {
		panic(err)
	}
	pid, err := child.Spawn(ctx, "echo", "echo")
	if err != nil {
		panic(err)
	}
	pong, err := actors.Request[*Pong](ctx, node, pid, &Ping{N: 42})
	if err != nil {
		panic(err)
	}
	fmt.Println(actors.FormatPID(pid), "answered", pong.N, "from", pong.Context)
	fmt.Println("other process:", pong.Pid == child.Pid() && pong.Pid != os.Getpid())
	// Output:
	// ctx-1/echo answered 42 from worker-1
	// other process: true
}

// ExampleNewBuilder shows the option that lets a program reach hosts of
// another platform: with Bootstrap.Build set, a target that runs, say,
// linux/arm64 gets the program built for it on demand. Here the go
// command is missing on purpose, to show the error a user gets when the
// toolchain or the source is not at hand: it names the platform and how to
// supply a binary instead.
func ExampleNewBuilder() {
	build := spawn.NewBuilder(spawn.BuildOptions{Go: "/nonexistent/go", CacheDir: os.TempDir() + "/spindle-example-builds"})
	_ = spawn.Bootstrap{Build: build} // e.g. ssh.Options{Host: "user@arm64-host", Bootstrap: ...}

	_, err := build.Binary(context.Background(), "linux/arm64")
	var be *spawn.BuildError
	fmt.Println(errors.As(err, &be), be.Platform, errors.Is(err, spawn.ErrNoToolchain))
	// Output:
	// true linux/arm64 true
}

// ExampleCommon_via starts a context through another one: "inner" is
// started by "bastion" (its process is the bastion's child), reached from
// the root directly, and shut down through the bastion. A chain of any
// depth is the same option on a via-child.
func ExampleCommon_via() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node, err := actors.NewNode(actors.Config{Setup: setup, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		panic(err)
	}
	defer node.Shutdown(ctx)

	bastion, err := spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: "bastion"}})
	if err != nil {
		panic(err)
	}
	inner, err := spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: "inner", Via: bastion}})
	if err != nil {
		panic(err)
	}
	pid, err := inner.Spawn(ctx, "echo", "echo")
	if err != nil {
		panic(err)
	}
	pong, err := actors.Request[*Pong](ctx, node, pid, &Ping{N: 7})
	if err != nil {
		panic(err)
	}
	fmt.Println("answered", pong.N, "from", pong.Context, "started by", inner.Info().Via == bastion.ID())
	fmt.Println("shutdown:", inner.Shutdown(ctx))
	// Output:
	// answered 7 from inner started by true
	// shutdown: <nil>
}

// ExampleChain starts three local contexts, each through the one before
// it, in one expression, and keeps every hop's handle: shutting down the
// first takes the others with it.
func ExampleChain() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node, err := actors.NewNode(actors.Config{Setup: setup, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		panic(err)
	}
	defer node.Shutdown(ctx)
	step := func(name string) spawn.Step { return spawn.LocalStep(spawn.Options{Common: spawn.Common{Name: name}}) }
	hops, err := spawn.Chain(ctx, node, step("bastion"), step("inner"), step("app"))
	if err != nil { // a *spawn.ChainError naming the step; the hops before it are shut down
		panic(err)
	}
	for i, h := range hops[1:] {
		fmt.Println(h.Name(), "started by", hops[i].Name(), h.Info().Via == hops[i].ID())
	}
	fmt.Println("shutdown:", hops[0].Shutdown(ctx))
	// Output:
	// inner started by bastion true
	// app started by inner true
	// shutdown: <nil>
}
