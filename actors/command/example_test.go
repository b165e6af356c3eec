package command_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/command"
	"github.com/spindle-go/spindle/actors/transfer"
)

// exampleTree makes a root and one child context in this process, joined
// over net.Pipe; in a real program the child is a process (spawn.Local,
// spawn/ssh) that runs the same setup.
func exampleTree(setup func(*actors.Node) error) (root, child *actors.Node, stop func()) {
	root, _ = actors.NewNode(actors.Config{Setup: setup, Logger: quiet()})
	a, b := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	joined := make(chan *actors.Node)
	go func() {
		n, _ := actors.Join(ctx, actors.Config{Setup: setup, Logger: quiet()}, actors.Transport{R: b, W: b, C: b})
		joined <- n
	}()
	_, _ = root.AttachChild(ctx, "host-1", actors.Transport{R: a, W: a, C: a})
	child = <-joined
	return root, child, func() {
		_ = child.Shutdown(context.Background())
		_ = root.Shutdown(context.Background())
	}
}

func ExampleRunner_Run() {
	runners := map[*actors.Node]*command.Runner{}
	setup := func(n *actors.Node) error {
		t, err := transfer.New(n, transfer.Config{})
		if err != nil {
			return err
		}
		r, err := command.New(t, command.Config{}) // ancestors may run commands here
		runners[n] = r
		return err
	}
	root, host, stop := exampleTree(setup)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stderr strings.Builder
	err := runners[root].Run(ctx, host.ID(), command.Cmd{
		Path:   "sh",
		Args:   []string{"-c", "echo building; echo warning >&2; exit 2"},
		Stdout: os.Stdout, // as the output comes
		Stderr: &stderr,
	})
	var ee *command.ExitError
	if errors.As(err, &ee) {
		fmt.Printf("exit status %d, stderr %q\n", ee.ExitCode(), stderr.String())
	}
	// Output:
	// building
	// exit status 2, stderr "warning\n"
}

func ExampleRunner_Output() {
	runners := map[*actors.Node]*command.Runner{}
	setup := func(n *actors.Node) error {
		t, err := transfer.New(n, transfer.Config{})
		if err != nil {
			return err
		}
		runners[n], err = command.New(t, command.Config{})
		return err
	}
	root, host, stop := exampleTree(setup)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := runners[root].Output(ctx, host.ID(), "echo", "hello", "fleet")
	fmt.Printf("%q %v\n", out, err)
	// Output: "hello fleet\n" <nil>
}
