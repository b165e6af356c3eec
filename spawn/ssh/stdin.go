package ssh

import (
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// sessionStdin is a session's stdin that may be closed while another
// goroutine writes to it. x/crypto/ssh's channel reads its "EOF sent" flag
// in Write without a lock and sets it in CloseWrite, so a link whose
// writer is in a Write when the link is closed would race there. Writes
// hold mu; a Close that finds a Write in progress closes the session's
// channel instead of half-closing it (x/crypto/ssh guards that against
// Write with its own lock) and does not wait for the Write, which may be
// blocked on the peer's window until the connection goes.
type sessionStdin struct {
	w    io.WriteCloser // x/crypto/ssh's stdin pipe: Close is CloseWrite
	sess *ssh.Session

	mu     sync.Mutex // held by Write, and by Close while it half-closes
	once   sync.Once
	closed atomic.Bool
}

func (s *sessionStdin) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, io.ErrClosedPipe
	}
	return s.w.Write(p)
}

// Close half-closes the stdin (EOF to the command) when no Write is in
// progress, and closes the session's channel when one is. It is
// idempotent, never blocks on a Write, and is safe to call concurrently
// with Write.
func (s *sessionStdin) Close() error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true) // later Writes fail without touching the channel
		if !s.mu.TryLock() {
			err = s.sess.Close()
			return
		}
		defer s.mu.Unlock()
		err = s.w.Close()
	})
	return err
}
