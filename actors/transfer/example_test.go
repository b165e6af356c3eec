package transfer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/transfer"
)

// exampleTree makes a root and one child context in this process, joined
// over net.Pipe, each with a Transfer made by setup. In a real program
// the child is a process (spawn.Local, spawn/ssh) that runs the same setup.
func exampleTree(setup func(*actors.Node) error) (root, child *actors.Node, stop func()) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	root, _ = actors.NewNode(actors.Config{Setup: setup, Logger: quiet})
	a, b := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	joined := make(chan *actors.Node)
	go func() {
		n, _ := actors.Join(ctx, actors.Config{Setup: setup, Logger: quiet}, actors.Transport{R: b, W: b, C: b})
		joined <- n
	}()
	_, _ = root.AttachChild(ctx, "worker", actors.Transport{R: a, W: a, C: a})
	child = <-joined
	return root, child, func() {
		_ = child.Shutdown(context.Background())
		_ = root.Shutdown(context.Background())
	}
}

func ExampleTransfer_Open() {
	ends := map[*actors.Node]*transfer.Transfer{}
	setup := func(n *actors.Node) error {
		t, err := transfer.New(n, transfer.Config{})
		if err != nil {
			return err
		}
		ends[n] = t
		// An upper-casing echo, open to ancestors only (nil policy).
		return t.Handle("upper", func(ctx context.Context, s *transfer.Stream) error {
			b, err := io.ReadAll(s)
			if err != nil {
				return err
			}
			_, err = s.Write([]byte(strings.ToUpper(string(b))))
			return err
		}, nil)
	}
	root, child, stop := exampleTree(setup)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := ends[root].Open(ctx, child.ID(), "upper")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = s.Write([]byte("hello, stream"))
	_ = s.CloseWrite() // the handler reads io.EOF
	out, _ := io.ReadAll(s)
	fmt.Println(string(out))
	// Output: HELLO, STREAM
}

func ExampleTransfer_PushFile() {
	ends := map[*actors.Node]*transfer.Transfer{}
	setup := func(n *actors.Node) error {
		t, err := transfer.New(n, transfer.Config{})
		ends[n] = t
		return err
	}
	root, child, stop := exampleTree(setup)
	defer stop()

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "app.conf")
	_ = os.WriteFile(src, []byte("listen = :8080\n"), 0o600)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dst := filepath.Join(dir, "installed.conf")
	res, err := ends[root].PushFile(ctx, child.ID(), src, dst, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	st, _ := os.Stat(dst)
	fmt.Println(res.Size, st.Mode().Perm())

	// And back, as a stream of bytes.
	var back strings.Builder
	_, err = ends[root].Pull(ctx, child.ID(), dst, &back, nil)
	fmt.Printf("%q %v\n", back.String(), err)
	// Output:
	// 15 -rw-------
	// "listen = :8080\n" <nil>
}
