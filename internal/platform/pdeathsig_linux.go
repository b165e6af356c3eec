package platform

import "syscall"

// HasPdeathsig reports whether SetPdeathsig has an effect on this platform.
const HasPdeathsig = true

// SetPdeathsig asks the kernel to SIGKILL the process started with attr
// when the thread that started it exits (Linux's PR_SET_PDEATHSIG). Where
// the kernel has no such thing it does nothing: a child context then
// exits on its link's EOF instead.
func SetPdeathsig(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
