//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package platform

import (
	"errors"
	"os"
	"syscall"
)

// ErrLocked is the error of TryLock on a file another open file
// description holds a conflicting lock on.
var ErrLocked = errors.New("platform: file is locked")

// TryLock takes an advisory flock(2) on f without waiting: shared, or
// exclusive. A conflicting lock held elsewhere (another process, or
// another open of the same file) gives ErrLocked; a file system without
// flock gives its error. The lock lasts until Unlock or until every
// descriptor of f's open file description is closed (at the latest, the
// process's exit, however it ends).
func TryLock(f *os.File, shared bool) error {
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrLocked
		}
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
}

// Unlock releases f's flock.
func Unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
