package spawn

import (
	"bufio"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
)

// stderrTail is how many of a child's last stderr lines are kept for error
// messages.
const stderrTail = 20

// stderrForwarder logs every line a child writes to stderr (panics, output
// of libraries that do not use slog) and keeps the last few for errors.
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
			if len(f.last) == stderrTail {
				f.last = f.last[1:]
			}
			f.last = append(f.last, line)
			f.mu.Unlock()
			f.log.Load().Warn("child stderr", "line", line)
		}
	}()
	return f
}

// setLogger replaces the logger (once the child's context ID is known).
func (f *stderrForwarder) setLogger(l *slog.Logger) { f.log.Store(l) }

// wait returns when the child's stderr reached EOF.
func (f *stderrForwarder) wait() { <-f.done }

func (f *stderrForwarder) tail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.last, "\n")
}
