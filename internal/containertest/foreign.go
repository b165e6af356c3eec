package containertest

import (
	"fmt"
	"os"
	"testing"
)

// BusyboxImageOf returns the tag of an image laid out like BusyboxImage
// (busybox, its applet symlinks, /etc/passwd, /tmp), imported under repo,
// from the statically linked busybox at path: a busybox of another
// architecture, which must run on this machine (qemu-user through
// binfmt_misc with the F flag, see internal/qemutest), because the image
// is built from the applets it lists. The image's metadata keeps the
// engine's architecture (`import --platform` needs an experimental
// daemon); the files decide what runs.
func (e *Engine) BusyboxImageOf(t testing.TB, repo, path string) string {
	t.Helper()
	load := func() ([]byte, error) {
		if !IsStatic(path) {
			return nil, fmt.Errorf("containertest: %s is not a statically linked ELF file", path)
		}
		return os.ReadFile(path)
	}
	tag, err := e.makeImageFrom(repo, load, busyboxRootFS)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
