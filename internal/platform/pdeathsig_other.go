//go:build !linux

package platform

import "syscall"

// HasPdeathsig reports whether SetPdeathsig has an effect on this platform.
const HasPdeathsig = false

// SetPdeathsig does nothing here: this kernel cannot signal a child when
// its parent dies. A child context exits on its link's EOF instead.
func SetPdeathsig(*syscall.SysProcAttr) {}
