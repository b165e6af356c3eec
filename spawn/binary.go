package spawn

import "github.com/spindle-go/spindle/spawn/internal/boot"

// Binary is a program that the bootstrap ships to targets (SSH hosts,
// containers, other users): a Go binary whose main calls Main first, built
// for one platform. It computes its digest and its compressed forms once
// and keeps them, so reuse one Binary for many spawns. A Binary is safe
// for concurrent use.
type Binary = boot.Binary

// NewBinary describes the program at path for platform ("linux/arm64").
// An empty platform is read from the Go build information recorded in the
// file. Nothing is read until the first spawn that needs it.
func NewBinary(path, platform string) *Binary { return boot.NewBinary(path, platform) }

// Self returns the running program as a Binary (the default binary of
// every bootstrapped context). Its digest is computed once per process.
func Self() (*Binary, error) { return boot.Self() }
