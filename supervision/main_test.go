package supervision_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
	"go.uber.org/goleak"
)

// Messages of the worker contexts the tests supervise.
type (
	Job    struct{ N int }
	Result struct {
		N   int
		Pid int
	}
)

func setup(n *actors.Node) error {
	if err := actors.RegisterType[Job](n, "supervision_test.Job"); err != nil {
		return err
	}
	if err := actors.RegisterType[Result](n, "supervision_test.Result"); err != nil {
		return err
	}
	n.RegisterKind("worker", actor.PropsFromFunc(func(c actor.Context) {
		if j, ok := c.Message().(*Job); ok {
			c.Respond(&Result{N: j.N * 2, Pid: os.Getpid()})
		}
	}))
	// counter answers a Job with the number of Jobs since it (re)started,
	// and panics on a Job with N < 0.
	n.RegisterKind("counter", actor.PropsFromProducer(func() actor.Actor { return &counter{} }))
	return nil
}

type counter struct{ n int }

func (k *counter) Receive(c actor.Context) {
	if j, ok := c.Message().(*Job); ok {
		if j.N < 0 {
			panic("counter: negative job")
		}
		k.n++
		c.Respond(&Result{N: k.n, Pid: os.Getpid()})
	}
}

func TestMain(m *testing.M) {
	spawn.Main(setup)
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

func leakOptions() []goleak.Option {
	return []goleak.Option{
		// protoactor's dead-letter throttle lives on for about a second.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottleWithLogger.func1"),
	}
}

func newRoot(t testing.TB, cfg actors.Config) *actors.Node {
	t.Helper()
	cfg.Setup = setup
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	n, err := actors.NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// local starts workers as local child processes (this test binary).
func local(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
	return spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second}})
}

func workers(n int, restart supervision.Restart) []supervision.ContextSpec {
	out := make([]supervision.ContextSpec, n)
	for i := range out {
		out[i] = supervision.ContextSpec{Name: "worker-" + string(rune('a'+i)), Restart: restart, Start: local,
			Actors: []supervision.ActorSpec{{Kind: "worker", Name: "w"}}}
	}
	return out
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// events subscribes to the supervision events of node.
func events(t testing.TB, node *actors.Node) <-chan any {
	ch := make(chan any, 1024)
	sub := node.System().EventStream.Subscribe(func(ev any) {
		switch ev.(type) {
		case *supervision.ChildFailed, *supervision.ChildRestarted, *supervision.SupervisorGaveUp:
			select {
			case ch <- ev:
			default:
			}
		}
	})
	t.Cleanup(func() { node.System().EventStream.Unsubscribe(sub) })
	return ch
}

// next returns the next event of type T, skipping others.
func next[T any](t testing.TB, ch <-chan any, d time.Duration) T {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-ch:
			if v, ok := ev.(T); ok {
				return v
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T within %v", zero, d)
			return zero
		}
	}
}

// waitUp waits until every child of s is up and returns their infos.
func waitUp(t testing.TB, s *supervision.Supervisor, d time.Duration) []supervision.ChildInfo {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		infos := s.Children()
		up := 0
		for _, ci := range infos {
			if ci.Up {
				up++
			}
		}
		if up == len(infos) {
			return infos
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d children up after %v", up, len(infos), d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
