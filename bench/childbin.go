package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Spindle contexts and the floor's processes run a separate child binary,
// built from bench/child at the start of a run: the harness itself links
// gRPC for its protoactor peer, which makes every process of it about
// 1.5-2 ms slower to start (about 55 more package initialisers and a
// larger image), a cost that would be charged to Spindle's spawn figures.

// childBinary returns the binary Spindle contexts and floor processes run,
// and a sentence saying what it is. choice is the -child flag: "" builds
// bench/child into dir, "self" is the harness binary, anything else a path.
// A child that cannot be built falls back to the harness binary, with the
// reason in the sentence.
func childBinary(ctx context.Context, choice, self, dir string) (path, about string) {
	const selfNote = "the harness binary (it links gRPC, which adds about 1.5-2 ms to every start)"
	switch choice {
	case "self":
		return self, selfNote
	case "":
	default:
		return choice, choice
	}
	path = filepath.Join(dir, "spindle-bench-child")
	if err := buildChild(ctx, path); err != nil {
		return self, fmt.Sprintf("%s, because bench/child could not be built: %v", selfNote, err)
	}
	about = "bench/child, built for this run (Spindle without gRPC)"
	if fi, err := os.Stat(path); err == nil {
		about = fmt.Sprintf("bench/child, built for this run (Spindle without gRPC, %.1f MB)", float64(fi.Size())/1e6)
	}
	return path, about
}

// buildChild runs go build for bench/child. The bench module is found from
// this file's compile-time path, or else from the working directory.
func buildChild(ctx context.Context, out string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := "."
	if _, file, _, ok := runtime.Caller(0); ok {
		if _, err := os.Stat(filepath.Join(filepath.Dir(file), "child", "main.go")); err == nil {
			dir = filepath.Dir(file)
		}
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", out, "./child")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(b)))
	}
	return nil
}
