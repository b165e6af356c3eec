//go:build !(darwin || linux || openbsd)

package link

import "golang.org/x/sys/unix"

// writev writes the first non-empty piece of iov (x/sys/unix has no
// writev here); the caller loops.
func writev(fd int, iov [][]byte) (int, error) {
	for _, b := range iov {
		if len(b) > 0 {
			return unix.Write(fd, b)
		}
	}
	return 0, nil
}
