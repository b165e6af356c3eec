package ssh_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// TestSession_StdinCloseDuringWrite closes a session's stdin while another
// goroutine writes to it, as a link's close does while its writer is busy.
// x/crypto/ssh alone races there (CloseWrite against Write, seen by -race);
// the session's stdin must not, and the writer must end with an error.
func TestSession_StdinCloseDuringWrite(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	node := newRoot(t, nil)
	tgt, err := ssh.Dial(testCtx(t, 30*time.Second), node, sshOpts(srv, "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tgt.Close() })
	block := bytes.Repeat([]byte("x"), 32<<10)
	for round := range 10 {
		// "sleep" never reads: the writer fills the window and blocks in
		// some rounds; "cat" reads: the writer is mid-Write in the others.
		prog := "exec cat >/dev/null"
		if round%2 == 1 {
			prog = "exec sleep 30"
		}
		// The shell reports its PID, as the bootstrap does, so that Kill
		// reaches the process (root logins get no signal requests).
		r, err := tgt.Runner(runner.Command{Argv: []string{"sh", "-c", "echo $$; " + prog}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(testCtx(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		out := bufio.NewReader(r.Stdout())
		line, err := out.ReadString('\n')
		pid, perr := strconv.Atoi(strings.TrimSpace(line))
		if err != nil || perr != nil {
			t.Fatalf("round %d: pid line %q: %v %v", round, line, err, perr)
		}
		r.(interface{ SetPID(int) }).SetPID(pid)
		go func() { _, _ = io.Copy(io.Discard, out) }()
		stdin := r.Stdin()
		var wg sync.WaitGroup
		wg.Add(1)
		werr := make(chan error, 1)
		go func() {
			defer wg.Done()
			for {
				if _, err := stdin.Write(block); err != nil {
					werr <- err
					return
				}
			}
		}()
		time.Sleep(time.Duration(round%4) * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- stdin.Close() }()
		select {
		case <-closed: // Close never waits for the Write
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close blocked behind a Write", round)
		}
		if err := stdin.Close(); err != nil && !errors.Is(err, io.EOF) {
			t.Logf("second Close: %v", err) // idempotent: at most an error, never a hang
		}
		_ = r.Kill(testCtx(t, 10*time.Second))
		select {
		case err := <-werr:
			if err == nil {
				t.Fatalf("round %d: writer ended without an error", round)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: writer still blocked after Close and Kill", round)
		}
		wg.Wait()
		if err := r.Wait(testCtx(t, 20*time.Second)); errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("round %d: the command outlived Close and Kill", round)
		}
	}
}
