//go:build !linux

package spawn

import "os"

// growPipe does nothing here: only Linux lets a pipe grow (F_SETPIPE_SZ).
func growPipe(*os.File) {}
