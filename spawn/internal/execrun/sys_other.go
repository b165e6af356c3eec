//go:build !linux

package execrun

import (
	"os"
	"syscall"
)

// sysProcAttr: own process group (signals reach it and only it).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func growPipe(*os.File) {}
