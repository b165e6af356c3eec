package ssh

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spindle-go/spindle/spawn"
)

// Names this package used while it was part of spawn.
type (
	Binary          = spawn.Binary
	Child           = spawn.Child
	BootstrapInfo   = spawn.BootstrapInfo
	RemoteExitError = spawn.RemoteExitError
	ShellError      = spawn.ShellError
	CacheDirError   = spawn.CacheDirError
	DiskFullError   = spawn.DiskFullError
	PlatformError   = spawn.PlatformError
	BootstrapError  = spawn.BootstrapError
)

func Self() (*Binary, error) { return spawn.Self() }

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// eofReader records that the remote side closed the link (its stdout).
type eofReader struct {
	r   io.Reader
	eof atomic.Bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.eof.Store(true)
	}
	return n, err
}

func isEOFish(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isClosed(err)
}

func isClosed(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}

// stderrForwarder logs every line the remote side writes to stderr and
// keeps the last few for errors.
type stderrForwarder struct {
	log  atomic.Pointer[slog.Logger]
	done chan struct{}
	mu   sync.Mutex
	last []string
}

func forwardStderr(r io.ReadCloser, log *slog.Logger) *stderrForwarder {
	f := &stderrForwarder{done: make(chan struct{})}
	f.log.Store(log)
	go func() {
		defer close(f.done)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			f.mu.Lock()
			if len(f.last) == 20 {
				f.last = f.last[1:]
			}
			f.last = append(f.last, line)
			f.mu.Unlock()
			f.log.Load().Warn("child stderr", "line", line)
		}
	}()
	return f
}

func (f *stderrForwarder) setLogger(l *slog.Logger) { f.log.Store(l) }
func (f *stderrForwarder) wait()                    { <-f.done }

func (f *stderrForwarder) tail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.last, "\n")
}

// Timings this package shared with spawn.
const (
	exitGrace               = 250 * time.Millisecond
	deadKillTimeout         = 300 * time.Millisecond
	defaultBootstrapTimeout = 60 * time.Second
)

// Sentinels of the bootstrap, as this package named them inside spawn.
var (
	ErrNoShell          = spawn.ErrNoShell
	ErrNoExecDir        = spawn.ErrNoExecDir
	ErrDiskFull         = spawn.ErrDiskFull
	ErrPlatformMismatch = spawn.ErrPlatformMismatch
	ErrBootstrapTimeout = spawn.ErrBootstrapTimeout
	ErrBootstrap        = spawn.ErrBootstrap
)
