package command_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/command"
	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/spawn"
)

const waitLong = 20 * time.Second

// transfers maps each node to its Transfer (test code only).
var transfers sync.Map

func transferOf(n *actors.Node) *transfer.Transfer {
	v, _ := transfers.Load(n)
	return v.(*transfer.Transfer)
}

// runners maps each node of this process to its Runner (test code only).
var runners sync.Map

func runner(n *actors.Node) *command.Runner {
	v, _ := runners.Load(n)
	return v.(*command.Runner)
}

func setupWith(cfg command.Config) func(*actors.Node) error {
	return func(n *actors.Node) error {
		t, err := transfer.New(n, transfer.Config{})
		if err != nil {
			return err
		}
		r, err := command.New(t, cfg)
		if err != nil {
			return err
		}
		runners.Store(n, r)
		transfers.Store(n, t)
		return nil
	}
}

var setup = setupWith(command.Config{KillGrace: 500 * time.Millisecond})

func TestMain(m *testing.M) {
	spawn.Main(setup)
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newRoot(t testing.TB, cfg actors.Config) *actors.Node {
	t.Helper()
	if cfg.Setup == nil {
		cfg.Setup = setup
	}
	cfg.Logger = quiet()
	n, err := actors.NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, n) })
	return n
}

func shutdown(t testing.TB, n *actors.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown %s: %v", n.Name(), err)
	}
}

type child struct {
	node *actors.Node
	kill func()
}

// attach joins an in-process child context over two os.Pipe pairs.
func attach(t testing.TB, parent *actors.Node, name string, cfg actors.Config) *child {
	t.Helper()
	if cfg.Setup == nil {
		cfg.Setup = setup
	}
	cfg.Logger = quiet()
	down, toChild, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromChild, up, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pt := actors.Transport{R: fromChild, W: toChild, C: closers{fromChild, toChild}}
	ct := actors.Transport{R: down, W: up, C: closers{down, up}}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	type joined struct {
		n   *actors.Node
		err error
	}
	ch := make(chan joined, 1)
	go func() {
		n, err := actors.Join(ctx, cfg, ct)
		ch <- joined{n, err}
	}()
	_, err = parent.AttachChild(ctx, name, pt)
	j := <-ch
	if err != nil || j.err != nil {
		t.Fatalf("attach %q: parent: %v, child: %v", name, err, j.err)
	}
	t.Cleanup(func() { shutdown(t, j.n) })
	return &child{node: j.n, kill: func() { _ = ct.C.Close() }}
}

type closers []io.Closer

func (c closers) Close() error {
	for _, x := range c {
		_ = x.Close()
	}
	return nil
}

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

// lines is an io.Writer that hands each complete line to a channel.
type lines struct {
	mu   sync.Mutex
	part string
	ch   chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 64)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part += string(p)
	for {
		i := strings.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case l.ch <- l.part[:i]:
		default:
		}
		l.part = l.part[i+1:]
	}
}

func (l *lines) next(t testing.TB) string {
	t.Helper()
	select {
	case s := <-l.ch:
		return s
	case <-time.After(waitLong):
		t.Fatal("no line of output")
		return ""
	}
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// waitGroupGone waits until no live process is left in process group
// pgid (zombies do not count), and fails the test if one survives.
func waitGroupGone(t testing.TB, pgid int) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has live processes %v", pgid, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
