// Package platform holds the few operating-system calls that differ
// between the platforms Spindle builds for (linux, darwin, freebsd and the
// other BSDs), each behind one small function, so the rest of the tree has
// no per-platform branches. See docs/platforms.md.
//
// # Usage
//
//	attr := &syscall.SysProcAttr{Setpgid: true}
//	platform.SetPdeathsig(attr) // SIGKILL on the parent's death where the kernel offers it
//	a, b, err := platform.Socketpair()
//
// The functions are safe for concurrent use.
package platform
