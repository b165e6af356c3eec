package platform

import (
	"os"

	"golang.org/x/sys/unix"
)

// MemFile returns an anonymous file that lives in memory only
// (memfd_create, close-on-exec), named name in /proc. Its bytes are freed
// when the last descriptor is closed.
func MemFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "memfd_create", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// HasMemFile reports whether MemFile works here.
const HasMemFile = true
