package spawn

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stderrTail is how many of a child's last stderr lines are kept for error
// messages.
const stderrTail = 20

// Bounds of stderr forwarding. The forwarder never stops reading (a child
// whose stderr is not read blocks, or dies of SIGPIPE once it is closed):
// a line longer than stderrMaxLine is logged in pieces (part=1, 2, ...),
// lines past the rate are dropped and counted, and the tail keeps at most
// stderrTailLine bytes of each line.
const (
	stderrMaxLine  = 16 << 10
	stderrReadBuf  = 1 << 10
	stderrRate     = 200 // lines logged per second, after a burst of
	stderrBurst    = 1000
	stderrTailLine = 1 << 10
)

// stderrForwarder logs every line a child writes to stderr (panics, output
// of libraries that do not use slog) and keeps the last few for errors.
type stderrForwarder struct {
	log  atomic.Pointer[lazyLogger]
	done chan struct{}
	mu   sync.Mutex
	last []string
	now  func() time.Time

	tokens  float64 // owned by the reading goroutine
	stamp   time.Time
	dropped int
}

// lazyLogger is base.With(attrs...), made at its first use: most children
// never write to stderr, and With formats its attributes at once (two per
// spawn were 5% of a parent's CPU for a local spawn).
type lazyLogger struct {
	once  sync.Once
	base  *slog.Logger
	attrs []any
	l     *slog.Logger
}

func (z *lazyLogger) get() *slog.Logger {
	z.once.Do(func() { z.l = z.base.With(z.attrs...) })
	return z.l
}

// forwardStderr forwards r's lines to log.With(attrs...).
func forwardStderr(r io.ReadCloser, log *slog.Logger, attrs ...any) *stderrForwarder {
	f := &stderrForwarder{done: make(chan struct{}), now: time.Now, tokens: stderrBurst}
	f.setLogger(log, attrs...)
	go func() {
		defer close(f.done)
		defer r.Close()
		f.run(r)
	}()
	return f
}

// run reads r to its end, line by line, in pieces of at most stderrMaxLine.
// Its buffer is small (stderrReadBuf: one per child, held by the parent
// for the child's life, and most children write nothing); the rare longer
// line is gathered in long, released when the line ends.
func (f *stderrForwarder) run(r io.Reader) {
	br := bufio.NewReaderSize(r, stderrReadBuf)
	var long []byte // the part of a longer line not logged yet
	part := 0
	for {
		piece, err := br.ReadSlice('\n')
		more := errors.Is(err, bufio.ErrBufferFull) // the line goes on
		if !more && long == nil {
			f.emit(piece, &part, false)
		} else {
			long = append(long, piece...)
			for len(long) >= stderrMaxLine {
				f.emit(long[:stderrMaxLine], &part, true)
				long = long[:copy(long, long[stderrMaxLine:])]
			}
			if !more { // the line ended
				f.emit(long, &part, false)
				long = nil
			}
		}
		if err != nil && !more {
			f.flushDropped()
			return
		}
	}
}

// emit logs piece as a line, or as part of one when cont (a piece of a
// line that goes on) or when an earlier piece of its line was.
func (f *stderrForwarder) emit(piece []byte, part *int, cont bool) {
	if len(piece) > 0 {
		if cont || *part > 0 {
			*part++
		}
		f.line(strings.TrimRight(string(piece), "\r\n"), *part)
	}
	if !cont {
		*part = 0
	}
}

// line records one line (or piece of one: part > 0) and logs it unless
// over the rate.
func (f *stderrForwarder) line(s string, part int) {
	f.mu.Lock()
	if len(f.last) == stderrTail {
		f.last = f.last[1:]
	}
	f.last = append(f.last, strings.Clone(s[:min(len(s), stderrTailLine)]))
	f.mu.Unlock()
	if !f.allow() {
		f.dropped++
		return
	}
	f.flushDropped()
	if part > 0 {
		f.log.Load().get().Warn("child stderr", "line", s, "part", part)
		return
	}
	f.log.Load().get().Warn("child stderr", "line", s)
}

// allow takes a token of the line rate.
func (f *stderrForwarder) allow() bool {
	now := f.now()
	if !f.stamp.IsZero() {
		if dt := now.Sub(f.stamp).Seconds(); dt > 0 {
			f.tokens = min(stderrBurst, f.tokens+dt*stderrRate)
		}
	}
	f.stamp = now
	if f.tokens < 1 {
		return false
	}
	f.tokens--
	return true
}

// flushDropped logs how many lines were dropped since the last one logged.
func (f *stderrForwarder) flushDropped() {
	if f.dropped > 0 {
		f.log.Load().get().Warn("child stderr lines dropped", "count", f.dropped)
		f.dropped = 0
	}
}

// setLogger replaces the logger by l.With(attrs...) (once the child's
// context ID is known).
func (f *stderrForwarder) setLogger(l *slog.Logger, attrs ...any) {
	f.log.Store(&lazyLogger{base: l, attrs: attrs})
}

// wait returns when the child's stderr reached EOF.
func (f *stderrForwarder) wait() { <-f.done }

func (f *stderrForwarder) tail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.last, "\n")
}
