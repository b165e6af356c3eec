package calls_test

// Test harness of package calls: the functions and services every test
// context registers, in-process trees over net.Pipe, and this test binary
// re-executed as a real child context (spawn.Main in TestMain).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/internal/msgptest"
	"github.com/spindle-go/spindle/spawn"
	"go.uber.org/goleak"
)

// Generous bounds: tests never measure speed, they only check that
// something happens at once rather than at a long timeout.
const (
	waitLong = 10 * time.Second
	atOnce   = 2 * time.Second
	ctxLong  = 30 * time.Second
)

func TestMain(m *testing.M) {
	spawn.Main(setup) // a re-executed child context runs here and exits
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"))
}

// Requests and answers of the test functions.
type (
	Echo struct {
		Text string
	}
	Echoed struct {
		Text   string
		Ctx    uint32 // the callee
		Caller uint32 // calls.CallerOf in the callee
		Pid    int
	}
	Fail  struct{ How string }
	Block struct {
		Key string
	}
	Blocked struct{}
	// Ended is what the callee saw when a "block" handler returned.
	Ended struct {
		Key         string
		Err         string
		Canceled    bool
		HadDeadline bool
		Left        time.Duration
	}
	WaitEnded struct{ Key string }
	Flood     struct{ N, Want int }
	Flooded   struct{ Busy int }
	Big       struct{ N int }
	Blob      struct{ B []byte }
	Empty     struct{}
)

// ErrGone is a sentinel registered by name in every context.
var ErrGone = errors.New("test: gone")

// CodedError is an error type registered by name in every context.
type CodedError struct {
	Code int
	Msg  string
}

func (e *CodedError) Error() string { return fmt.Sprintf("coded %d: %s", e.Code, e.Msg) }

// endpointConfig is the calls.Config of test contexts; tests that need
// other limits set it with SPINDLE_CALLS_TEST_LIMITS in children, or pass
// their own to newTree.
var endpointConfig = calls.Config{}

// state is what a context's test handlers share.
type state struct {
	mu      sync.Mutex
	started map[string]chan struct{}
	release chan struct{}
	ended   chan Ended
}

var states sync.Map // *actors.Node -> *state

func stateOf(n *actors.Node) *state {
	v, _ := states.Load(n)
	return v.(*state)
}

func (s *state) startedCh(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.started[key]
	if ch == nil {
		ch = make(chan struct{})
		s.started[key] = ch
	}
	return ch
}

// markStarted closes the started channel of key (once).
func (s *state) markStarted(key string) {
	ch := s.startedCh(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func setup(n *actors.Node) error { return setupWith(n, endpointConfig) }

func setupWith(n *actors.Node, cfg calls.Config) error {
	ep, err := calls.New(n, cfg)
	if err != nil {
		return err
	}
	st := &state{started: map[string]chan struct{}{}, release: make(chan struct{}), ended: make(chan Ended, 1024)}
	states.Store(n, st)
	echo := func(ctx context.Context, req *Echo) (*Echoed, error) {
		c, _ := calls.CallerOf(ctx)
		return &Echoed{Text: req.Text, Ctx: n.ID(), Caller: c.ID, Pid: os.Getpid()}, nil
	}
	block := func(ctx context.Context, req *Block) (*Blocked, error) {
		st.markStarted(req.Key)
		select {
		case <-ctx.Done():
		case <-st.release:
		}
		dl, had := ctx.Deadline()
		e := Ended{Key: req.Key, Canceled: ctx.Err() != nil, HadDeadline: had}
		if ctx.Err() != nil {
			e.Err = ctx.Err().Error()
		}
		if had {
			e.Left = time.Until(dl)
		}
		st.ended <- e
		return &Blocked{}, ctx.Err()
	}
	pub, err := calls.NewService(ep, "pub", calls.ServiceConfig{Policy: calls.AnyContext, MaxConcurrent: 2, MaxQueued: 2})
	if err != nil {
		return err
	}
	priv, err := calls.NewService(ep, "priv", calls.ServiceConfig{})
	if err != nil {
		return err
	}
	up, err := calls.NewService(ep, "up", calls.ServiceConfig{Policy: calls.Descendants})
	if err != nil {
		return err
	}
	probe, err := calls.NewService(ep, "probe", calls.ServiceConfig{Policy: calls.AnyContext, MaxConcurrent: 64})
	if err != nil {
		return err
	}
	odd, err := calls.NewService(ep, "odd", calls.ServiceConfig{Policy: func(c calls.Caller) bool { return c.ID%2 == 1 }})
	if err != nil {
		return err
	}
	n.RegisterKind("echo", actor.PropsFromFunc(func(c actor.Context) { // for actors.Request in benchmarks
		if m, ok := c.Message().(*Echo); ok {
			c.Respond(&Echoed{Text: m.Text, Ctx: n.ID()})
		}
	}))
	for _, err := range []error{
		actors.RegisterType[Echo](n, "test.Echo"),
		actors.RegisterType[Echoed](n, "test.Echoed"),
		calls.RegisterError(ep, "test.ErrGone", ErrGone),
		calls.RegisterErrorType[*CodedError](ep, "test.CodedError"),
		calls.Handle(ep, "echo", echo),
		calls.Handle(ep, "block", block),
		calls.Handle(ep, "fail", func(ctx context.Context, req *Fail) (*Empty, error) {
			switch req.How {
			case "sentinel":
				return nil, fmt.Errorf("looking: %w", ErrGone)
			case "typed":
				return nil, &CodedError{Code: 42, Msg: "answer"}
			case "panic":
				panic("handler blew up")
			}
			return nil, errors.New("plain failure")
		}),
		calls.Handle(ep, "deadline", func(ctx context.Context, _ *Empty) (*Ended, error) {
			dl, had := ctx.Deadline()
			return &Ended{HadDeadline: had, Left: time.Until(dl)}, nil
		}),
		calls.Handle(ep, "waitEnded", func(ctx context.Context, req *WaitEnded) (*Ended, error) {
			select {
			case e := <-st.ended:
				return &e, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}),
		calls.Handle(ep, "len", func(ctx context.Context, req *Blob) (*Big, error) {
			return &Big{N: len(req.B)}, nil
		}),
		calls.Handle(ep, "big", func(ctx context.Context, req *Big) (*Blob, error) {
			return &Blob{B: make([]byte, req.N)}, nil
		}),
		calls.Handle(ep, "callUp", func(ctx context.Context, req *Echo) (*Echo, error) {
			// a child calls its root's function: the code of the refusal
			_, err := calls.Call[Echo, Echoed](ctx, ep, 0, "echo", req)
			var re *calls.RemoteError
			if errors.As(err, &re) {
				return &Echo{Text: string(re.Code)}, nil
			}
			return nil, err
		}),
		calls.Handle(ep, "gen", func(ctx context.Context, req *msgptest.Small) (*msgptest.Small, error) {
			req.ID++ // generated codecs both ways
			return req, nil
		}),
		calls.Method(pub, "gen", func(ctx context.Context, req *msgptest.Small) (*msgptest.Small, error) { return req, nil }),
		calls.Method(pub, "echo", echo),
		calls.Method(pub, "block", block),
		calls.Method(priv, "echo", echo),
		calls.Method(odd, "echo", echo),
		calls.Method(probe, "echo", echo),
		calls.Method(up, "echo", echo),
		calls.Method(probe, "block", block),
		calls.Handle(ep, "flood", func(ctx context.Context, req *Flood) (*Flooded, error) {
			// a child process that floods its root's service: N calls at
			// once, which outlive this handler (the process is killed); it
			// returns once Want of them have come back
			errs := make(chan error, req.N)
			for i := range req.N {
				go func() {
					_, err := calls.CallService[Block, Blocked](context.Background(), ep, 0, "probe", "block",
						&Block{Key: fmt.Sprint("flood-", n.ID(), "-", i)})
					errs <- err
				}()
			}
			out := &Flooded{}
			for range req.Want {
				select {
				case err := <-errs:
					if errors.Is(err, calls.ErrBusy) {
						out.Busy++
					}
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return out, nil
		}),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newRoot starts a root node with the test setup and the given endpoint
// limits; it is shut down when the test ends.
func newRoot(t testing.TB, cfg calls.Config) *actors.Node {
	t.Helper()
	return newRootNode(t, actors.Config{}, cfg)
}

// newRootNode is newRoot with node settings.
func newRootNode(t testing.TB, ncfg actors.Config, cfg calls.Config) *actors.Node {
	t.Helper()
	ncfg.Name, ncfg.Logger = "root", quietLogger()
	ncfg.Setup = func(n *actors.Node) error { return setupWith(n, cfg) }
	n, err := actors.NewNode(ncfg)
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
		t.Errorf("shutdown %s: %v", n.Name(), err)
	}
	states.Delete(n)
}

// kid is an in-process child context joined over net.Pipe.
type kid struct {
	node *actors.Node
	ep   *calls.Endpoint
	link *actors.ChildLink
	conn net.Conn // the parent's end: closing it cuts the link
}

// attach joins a child context with the test setup under parent.
func attach(t testing.TB, parent *actors.Node, name string) *kid {
	t.Helper()
	return attachWith(t, parent, name, calls.Config{})
}

func attachWith(t testing.TB, parent *actors.Node, name string, cfg calls.Config) *kid {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	pEnd, cEnd := net.Pipe()
	joined := make(chan *actors.Node, 1)
	errs := make(chan error, 1)
	go func() {
		n, err := actors.Join(ctx, actors.Config{Logger: quietLogger(), Setup: func(n *actors.Node) error { return setupWith(n, cfg) }},
			actors.Transport{R: cEnd, W: cEnd, C: cEnd})
		if err != nil {
			errs <- err
			return
		}
		joined <- n
	}()
	l, err := parent.AttachChild(ctx, name, actors.Transport{R: pEnd, W: pEnd, C: pEnd})
	if err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	var n *actors.Node
	select {
	case n = <-joined:
	case err := <-errs:
		t.Fatalf("join %s: %v", name, err)
	}
	t.Cleanup(func() { shutdown(t, n) })
	return &kid{node: n, ep: calls.Of(n), link: l, conn: pEnd}
}

// recv waits for a value on ch for at most d.
func recv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}

// waitFor polls cond until it holds or d passes (for state that changes
// on other goroutines, such as Stats after a death).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func ctxWith(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
