//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package platform

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked is the error of TryLock on a file another open file
// description holds a conflicting lock on.
var ErrLocked = errors.New("platform: file is locked")

// TryLock has no flock(2) here: it always fails with an error wrapping
// errors.ErrUnsupported (so whoever needs the lock to remove a file keeps it).
func TryLock(f *os.File, shared bool) error {
	return fmt.Errorf("platform: flock %s: %w", f.Name(), errors.ErrUnsupported)
}

// Unlock does nothing here.
func Unlock(*os.File) error { return nil }
