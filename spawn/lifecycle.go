package spawn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spindle-go/spindle/actors"
)

// ladder is the shutdown ladder of every child, whatever started it: each
// step (ask over the link with SHUTDOWN, SIGTERM, SIGKILL) runs after the
// previous one has had grace to work, until exited is closed. Each step
// runs in its own goroutine (a signal sent over a network may block);
// ladder waits for all of them before it returns. It returns ctx.Err()
// when ctx ends first, nil otherwise (exited or not: the caller then uses
// its most forceful means).
func ladder(ctx context.Context, grace time.Duration, exited <-chan struct{}, steps ...func()) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, step := range steps {
		if isDone(exited) {
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			step()
		}()
		t := time.NewTimer(grace)
		select {
		case <-exited:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
	return nil
}

// hook holds a child's Node.OnShutdown registration and removes it once,
// whether the child is shut down or dies by itself.
type hook struct {
	once   sync.Once
	remove func()
}

func (h *hook) release() {
	h.once.Do(func() {
		if h.remove != nil {
			h.remove()
		}
	})
}

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

// registerHook registers a child's shutdown hook (Node.OnShutdown); a
// variable so that a test can count registrations against removals.
var registerHook = (*actors.Node).OnShutdown
