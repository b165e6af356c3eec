package ssh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// linkCloser closes an SSH context's link. When the remote process closed
// it (it is exiting), the connection stays open a moment so that its exit
// status arrives. Otherwise (a heartbeat timeout, a protocol error, our own
// close) the process, if it still runs, is killed first, as a local child
// declared dead is: a stopped or hung process must not outlive its link.
// That attempt is bounded (deadKillTimeout): on a cut network it cannot
// succeed, and the remote context ends by its own heartbeat instead.
type linkCloser struct {
	c    *SSHContext
	r    *eofReader
	once sync.Once
}

func (l *linkCloser) Close() error {
	l.once.Do(func() {
		c := l.c
		t := time.NewTimer(exitGrace)
		defer t.Stop()
		switch {
		case l.r.eof.Load():
			select {
			case <-c.exited:
			case <-t.C:
			}
		case !isDone(c.exited) && !isDone(c.connDone):
			_ = c.killGroup(c.info.Pid, ssh.SIGKILL, deadKillTimeout)
		}
		_ = c.conn.Close()
	})
	return nil
}

// Wait waits for the remote process to end and returns nil for exit
// status 0, a *RemoteExitError otherwise, or a *ConnectionLostError when
// the connection broke first.
func (c *SSHContext) Wait(ctx context.Context) error {
	select {
	case <-c.exited:
		if c.exitErr == nil {
			return nil
		}
		return c.exitReason()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the remote process group and waits for the server's
// answer. OpenSSH (7.9 and later) delivers signal requests except for root
// logins, which run without privilege separation; when the server refuses,
// Signal runs kill(1) on the host through a second session instead (and
// closes the connection if that gets no answer within 5s).
func (c *SSHContext) Signal(sig ssh.Signal) error {
	if isDone(c.exited) {
		return os.ErrProcessDone
	}
	ok, err := c.sess.SendRequest("signal", true, ssh.Marshal(&struct{ Signal string }{string(sig)}))
	if err == nil && ok {
		return nil
	}
	if isDone(c.exited) {
		return os.ErrProcessDone
	}
	if err := c.killGroup(c.info.Pid, sig, 5*time.Second); err != nil && !isDone(c.exited) {
		return err
	}
	return nil
}

// killGroup sends sig to the remote process group pid (sshd starts each
// session with setsid, so the child leads one) with kill(1) in a new
// session. After d it gives up and closes the connection.
func (c *SSHContext) killGroup(pid int, sig ssh.Signal, d time.Duration) error {
	p := strconv.Itoa(pid)
	script := "kill -s " + string(sig) + " -- -" + p + " 2>/dev/null || kill -s " + string(sig) + " " + p
	done := make(chan error, 1)
	go func() {
		sess, err := c.conn.client.NewSession()
		if err != nil {
			done <- err
			return
		}
		defer sess.Close()
		done <- sess.Run(shellCommand(c.shell, script))
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	var err error
	select {
	case err = <-done:
	case <-t.C:
		_ = c.conn.Close()
		<-done
		err = fmt.Errorf("no answer within %v", d)
	}
	if err != nil {
		return fmt.Errorf("spawn: signal %s to process group %d on %s: %w", sig, pid, c.host, err)
	}
	return nil
}

// Kill sends SIGKILL to the remote process group and, if the process has
// not gone a second later (a dead network, a server that cannot signal),
// closes the connection, so the link always ends. It returns at once and
// is safe to call more than once.
func (c *SSHContext) Kill() error {
	c.killMu.Lock()
	defer c.killMu.Unlock()
	if c.killDone == nil {
		c.killDone = make(chan struct{})
		go func() {
			defer close(c.killDone)
			c.kill()
		}()
	}
	return nil
}

func (c *SSHContext) kill() {
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		_ = c.Signal(ssh.SIGKILL)
	}()
	t := time.NewTimer(time.Second)
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.conn.Close()
	}
	t.Stop()
	<-sent // returns once the connection is closed, if not before
}

// Shutdown stops the child: it asks the context to stop, then sends
// SIGTERM and finally SIGKILL to the remote process group, each after the
// grace period, then closes the connection and waits for everything it
// started. It is safe to call more than once; later calls return the
// first result.
func (c *SSHContext) Shutdown(ctx context.Context) error {
	c.shutdownOnce.Do(func() { c.shutdownErr = c.shutdown(ctx) })
	return c.shutdownErr
}

func (c *SSHContext) shutdown(ctx context.Context) error {
	if c.unhook != nil {
		c.unhook()
	}
	steps := []func(){
		func() { _ = c.node.RequestShutdown(c.link.ID) },
		func() { _ = c.Signal(ssh.SIGTERM) },
		func() { _ = c.Signal(ssh.SIGKILL) },
	}
	var err error
	var pending []chan struct{}
	for _, step := range steps {
		if isDone(c.exited) || err != nil {
			break
		}
		done := make(chan struct{})
		pending = append(pending, done)
		go func(step func()) {
			defer close(done)
			step()
		}(step)
		t := time.NewTimer(c.grace)
		select {
		case <-c.exited:
		case <-t.C:
		case <-ctx.Done():
			err = ctx.Err()
		}
		t.Stop()
	}
	if !isDone(c.exited) {
		_ = c.conn.Close()
	}
	for _, done := range pending {
		<-done
	}
	<-c.link.Done()
	c.link.Close()
	_ = c.conn.Close()
	c.killMu.Lock()
	killDone := c.killDone
	c.killMu.Unlock()
	if killDone != nil {
		<-killDone
	}
	c.wg.Wait()
	c.stderr.wait()
	if err != nil {
		return err
	}
	var ee *ssh.ExitError
	if errors.As(c.exitErr, &ee) && ee.Signal() == "" {
		return c.exitReason() // it failed by itself
	}
	return nil // exit status 0, stopped by our signal, or cut off by us
}

// deathReason turns the error that ended the link into the remote exit
// status or the reason the connection broke. Other errors (protocol
// errors, heartbeat timeouts) stay the reason: they are the cause.
func (c *SSHContext) deathReason(linkErr error) error {
	if !isEOFish(linkErr) {
		return linkErr
	}
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		return linkErr
	}
	return c.exitReason()
}

// exitReason describes the session's end; valid after exited.
func (c *SSHContext) exitReason() error {
	var ee *ssh.ExitError
	switch {
	case errors.As(c.exitErr, &ee):
		return &RemoteExitError{Host: c.host, Pid: c.info.Pid, Status: ee.ExitStatus(), Signal: ee.Signal()}
	case c.exitErr == nil:
		return &RemoteExitError{Host: c.host, Pid: c.info.Pid}
	}
	why := c.exitErr
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-c.connDone:
		if c.connErr != nil {
			why = c.connErr
		}
	case <-t.C:
	}
	return &ConnectionLostError{Host: c.host, Err: why}
}
