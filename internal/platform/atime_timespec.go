//go:build darwin || freebsd || netbsd

package platform

import (
	"os"
	"syscall"
	"time"
)

// Atime returns fi's access time, or the zero time when the system does
// not say.
func Atime(fi os.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(int64(st.Atimespec.Sec), int64(st.Atimespec.Nsec))
	}
	return time.Time{}
}
