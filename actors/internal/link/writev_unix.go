//go:build darwin || linux || openbsd

package link

import "golang.org/x/sys/unix"

// maxIOV is the most pieces one writev takes (IOV_MAX is 1024 on the
// systems that have it).
const maxIOV = 1024

// writev writes the first pieces of iov with one system call.
func writev(fd int, iov [][]byte) (int, error) {
	return unix.Writev(fd, iov[:min(len(iov), maxIOV)])
}
