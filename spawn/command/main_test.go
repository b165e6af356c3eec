package command_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
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
)

func setup(n *actors.Node) error {
	if err := actors.RegisterType[WhereAreYou](n, "test.WhereAreYou"); err != nil {
		return err
	}
	if err := actors.RegisterType[Here](n, "test.Here"); err != nil {
		return err
	}
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
