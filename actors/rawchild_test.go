package actors_test

// A raw child as a real process: this test binary, re-executed with
// rawChildEnv set, plays the child side of a link on its stdin and stdout
// with package wire alone (see TestMain).

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// rawChildEnv selects the raw child's behaviour.
const rawChildEnv = "SPINDLE_TEST_RAW_CHILD"

// rawChildMain is the raw child: it completes the handshake, then, in mode
// "exit7", exits with status 7 when the first USER frame arrives. It
// returns the exit status.
func rawChildMain(mode string) int {
	r := wire.NewReader(bufio.NewReader(os.Stdin), 1<<20)
	f, err := r.ReadFrame()
	if err != nil {
		return 2
	}
	hello, err := wire.ParseHello(f.Body())
	if err != nil {
		return 2
	}
	if _, err := os.Stdout.Write(childHello(hello, "raw-process")); err != nil {
		return 2
	}
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return 3
		}
		if mode == "exit7" && f.Header().Kind() == wire.KindUser {
			return 7
		}
	}
}

// startRawChild starts this binary as a raw child of parent and attaches
// it. The link's Reason hook turns the end of the link into the process's
// exit error (an *exec.ExitError), as a spawn method does.
func startRawChild(t testing.TB, parent *actors.Node, name, mode string) *actors.ChildLink {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), rawChildEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var waitErr error
	wait := func() error {
		once.Do(func() { waitErr = cmd.Wait() })
		return waitErr
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = wait()
	})
	tr := actors.Transport{R: stdout, W: stdin, C: closerFunc(func() error {
		_ = stdin.Close()
		return cmd.Process.Kill()
	}), Reason: func(err error) error {
		if werr := wait(); werr != nil {
			return werr
		}
		return err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	l, err := parent.AttachChild(ctx, name, tr)
	if err != nil {
		t.Fatalf("attach the raw child process: %v", err)
	}
	return l
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

var _ io.Closer = closerFunc(nil)
