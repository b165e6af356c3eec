package spawn

import (
	"fmt"
	"os"

	"github.com/spindle-go/spindle/actors"
	"golang.org/x/sys/unix"
)

// stdioTransport is the link of a context started by the SSH bootstrap:
// its stdin and stdout. The two descriptors are moved out of the way first
// (stdin becomes /dev/null, stdout a copy of stderr), so that stray output
// of the program (fmt.Println, a library writing to os.Stdout) reaches the
// parent as stderr lines instead of corrupting the link.
func stdioTransport() (actors.Transport, error) {
	rfd, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return actors.Transport{}, fmt.Errorf("spawn: stdio link: dup stdin: %w", err)
	}
	wfd, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		_ = unix.Close(rfd)
		return actors.Transport{}, fmt.Errorf("spawn: stdio link: dup stdout: %w", err)
	}
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Dup2(null, 0)
		_ = unix.Close(null)
	}
	if err == nil {
		err = unix.Dup2(2, 1)
	}
	if err != nil {
		_, _ = unix.Close(rfd), unix.Close(wfd)
		return actors.Transport{}, fmt.Errorf("spawn: stdio link: move stdin/stdout aside: %w", err)
	}
	// Non-blocking descriptors go into the runtime poller, so Close
	// unblocks a pending Read.
	for _, fd := range []int{rfd, wfd} {
		if err := unix.SetNonblock(fd, true); err != nil {
			_, _ = unix.Close(rfd), unix.Close(wfd)
			return actors.Transport{}, fmt.Errorf("spawn: stdio link: %w", err)
		}
	}
	r := os.NewFile(uintptr(rfd), "spindle-link-stdin")
	w := os.NewFile(uintptr(wfd), "spindle-link-stdout")
	return actors.Transport{R: r, W: w, C: closers{r, w}}, nil
}
