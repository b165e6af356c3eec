//go:build !linux

package actors_test

// childRole: the isolation tests re-execute the test binary on Linux only.
func childRole() bool { return false }
