//go:build !linux

package platform

import (
	"errors"
	"os"
)

// MemFile is not available on this platform (memfd_create is Linux's).
func MemFile(name string) (*os.File, error) {
	return nil, &os.PathError{Op: "memfd_create", Path: name, Err: errors.ErrUnsupported}
}

// HasMemFile reports whether MemFile works here.
const HasMemFile = false
