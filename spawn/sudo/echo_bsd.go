//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package sudo

import "golang.org/x/sys/unix"

const ioctlGetTermios = unix.TIOCGETA
