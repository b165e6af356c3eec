package command_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn"
)

// Where and who: what a context reports about itself.
type (
	WhereAreYou struct{}
	Here        struct {
		Pid      int
		Hostname string
		Uid      int
	}
	// AskSibling names an actor in another context for a relay to ask.
	AskSibling  struct{ Address, ID string }
	SiblingSaid struct {
		Err     string
		Refused bool
	}
)

func setup(n *actors.Node) error {
	if err := actors.RegisterType[WhereAreYou](n, "test.WhereAreYou"); err != nil {
		return err
	}
	if err := actors.RegisterType[Here](n, "test.Here"); err != nil {
		return err
	}
	if err := actors.RegisterType[AskSibling](n, "test.AskSibling"); err != nil {
		return err
	}
	if err := actors.RegisterType[SiblingSaid](n, "test.SiblingSaid"); err != nil {
		return err
	}
	if err := actors.RegisterType[BinAttack](n, "test.BinAttack"); err != nil {
		return err
	}
	ep, err := calls.New(n, calls.Config{})
	if err != nil {
		return err
	}
	if err := calls.Handle(ep, "test.binAttack", func(ctx context.Context, r *BinAttack) (*BinAttacked, error) {
		return binAttack(ctx, ep, r)
	}); err != nil {
		return err
	}
	if err := calls.Handle(ep, "test.binStats", func(context.Context, *struct{}) (*spawn.BinaryStats, error) {
		st := spawn.BinaryStatsOf(n)
		return &st, nil
	}); err != nil {
		return err
	}
	// relay asks the "where" actor named in AskSibling (in another context)
	// and reports the outcome to its own requester.
	n.RegisterKind("relay", actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*AskSibling); ok {
			sender, sys := c.Sender(), c.ActorSystem()
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := actors.Request[*Here](ctx, n, actor.NewPID(m.Address, m.ID), &WhereAreYou{})
				said := &SiblingSaid{Refused: errors.Is(err, actors.ErrRefused)}
				if err != nil {
					said.Err = err.Error()
				}
				sys.Root.Send(sender, said)
			}()
		}
	}))
	n.RegisterKind("where", actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*WhereAreYou); ok {
			h, _ := os.Hostname()
			c.Respond(&Here{Pid: os.Getpid(), Hostname: h, Uid: os.Getuid()})
		}
	}))
	return nil
}

func TestMain(m *testing.M) {
	spawn.Main(setup)
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

func newRoot(t testing.TB) *actors.Node {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

func where(t testing.TB, ctx context.Context, root *actors.Node, c spawn.Child) *Here {
	t.Helper()
	pid, err := c.Spawn(ctx, "where", "")
	if err != nil {
		t.Fatal(err)
	}
	h, err := actors.Request[*Here](ctx, root, pid, &WhereAreYou{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
