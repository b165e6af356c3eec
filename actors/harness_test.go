package actors_test

// Test harness shared by the in-process tests of package actors: message
// types and actor kinds, nodes joined over net.Pipe, a capturing slog
// handler, and small helpers for waiting on channels.

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"go.uber.org/goleak"
)

// Generous bounds: tests never measure speed, they only make sure that
// something happens "at once" rather than at a long timeout.
const (
	waitLong  = 30 * time.Second // upper bound for anything that must happen (loaded 2-core CI machines)
	atOnce    = 2 * time.Second  // "at once": well before any ctx timeout
	ctxLong   = 30 * time.Second // ctx timeout of requests that must fail early
	shutGrace = 10 * time.Second
)

func TestMain(m *testing.M) {
	if childRole() { // a re-executed test binary, see isolation_test.go
		return
	}
	if mode := os.Getenv(rawChildEnv); mode != "" {
		os.Exit(rawChildMain(mode)) // this binary re-executed as a raw child (rawchild_test.go)
	}
	goleak.VerifyTestMain(m, leakIgnores()...)
}

// leakIgnores lists the goroutines protoactor may leave behind for a while
// after an ActorSystem is shut down: the dead-letter log throttle
// (actor/throttler.go) starts a one-second timer goroutine on the first
// dead letter of a period, and nothing stops it. Its name depends on
// inlining (plain builds inline NewThrottle into NewDeadLetter).
func leakIgnores() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"), // -gcflags=-l
	}
}

// Messages. Ping, Pong, Tick and Burst are registered by typeSetup;
// Unregistered never is; RootOnly only where a test says so.
type (
	Ping struct{ Text string }
	Pong struct{ Text string }
	Tick struct{ I int }
	// Burst asks a "burst" actor to send N Ticks to ctx-0/To, then answer.
	Burst struct {
		N  int
		To string
	}
	Unregistered struct{ X int }
	RootOnly     struct{ X int }
)

// typeSetup registers the test message types.
func typeSetup(n *actors.Node) error {
	for _, err := range []error{
		actors.RegisterType[Ping](n, "test.Ping"),
		actors.RegisterType[Pong](n, "test.Pong"),
		actors.RegisterType[Tick](n, "test.Tick"),
		actors.RegisterType[Burst](n, "test.Burst"),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// rootOnlySetup registers RootOnly, for the contexts that should know it.
func rootOnlySetup(n *actors.Node) error { return actors.RegisterType[RootOnly](n, "test.RootOnly") }

// setups chains setup functions.
func setups(fs ...func(*actors.Node) error) func(*actors.Node) error {
	return func(n *actors.Node) error {
		for _, f := range fs {
			if err := f(n); err != nil {
				return err
			}
		}
		return nil
	}
}

// seen is what an echo or blackhole actor observed about one message.
type seen struct {
	self, sender *actor.PID
	header       map[string]string
	text         string
}

// kinds holds the observation channels of the actor kinds it registers, so
// that a test can see what happened inside another context of the same
// process.
type kinds struct {
	echoed  chan seen // every Ping an echo actor answered
	swallow chan seen // every Ping a blackhole actor swallowed
}

func newKinds() *kinds {
	return &kinds{echoed: make(chan seen, 256), swallow: make(chan seen, 256)}
}

// setup registers the kinds "echo" (answers Ping with Pong), "blackhole"
// (never answers), "forwarder" (forwards Ping to a local actor that does
// not exist) and "burst" (answers Burst after sending the Ticks).
func (k *kinds) setup(n *actors.Node) error {
	n.RegisterKind("echo", actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Ping); ok {
			offer(k.echoed, observe(c, m))
			c.Respond(&Pong{Text: m.Text})
		}
	}))
	n.RegisterKind("blackhole", actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Ping); ok {
			offer(k.swallow, observe(c, m))
		}
	}))
	n.RegisterKind("forwarder", actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*Ping); ok {
			c.Forward(actor.NewPID(c.Self().Address, "nowhere")) // keeps the sender
		}
	}))
	n.RegisterKind("burst", actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Burst); ok {
			to := actor.NewPID(actors.Address(0), m.To)
			for i := 0; i < m.N; i++ {
				c.Send(to, &Tick{I: i})
			}
			c.Respond(&Pong{Text: "sent"})
		}
	}))
	return nil
}

func observe(c actor.Context, m *Ping) seen {
	s := seen{self: c.Self(), sender: c.Sender(), text: m.Text}
	if h := c.MessageHeader(); h != nil {
		s.header = h.ToMap()
	}
	return s
}

// offer sends v on ch unless ch is full (observers must never block an
// actor).
func offer[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// recv waits up to d for a value on ch.
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

// waitFor polls cond until it holds. Use it only where no event can be
// waited on (routing tables learnt asynchronously).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// closedWithin reports whether ch is closed within d.
func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// newRoot starts a root node that is shut down when the test ends.
func newRoot(t testing.TB, cfg actors.Config) *actors.Node {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "root"
	}
	if cfg.Logger == nil {
		cfg.Logger = newLogStore(t).logger()
	}
	n, err := actors.NewNode(cfg)
	if err != nil {
		t.Fatalf("NewNode: %v", err)
	}
	t.Cleanup(func() { shutdown(t, n) })
	return n
}

func shutdown(t testing.TB, n *actors.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), shutGrace)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown %s: %v", n.Name(), err)
	}
}

// child is a context joined to its parent in this process.
type child struct {
	node *actors.Node
	link *actors.ChildLink // the parent's side of the link
	kill func()            // closes the child's end of the link, as if its process died
}

// attach joins a new child context to parent over net.Pipe. The child is
// shut down when the test ends (before its parent, cleanups run last in
// first out).
func attach(t testing.TB, parent *actors.Node, name string, cfg actors.Config) *child {
	t.Helper()
	return attachOver(t, parent, name, cfg, netPipe)
}

// attachOver is attach over a transport of the given kind.
func attachOver(t testing.TB, parent *actors.Node, name string, cfg actors.Config, mk transportMaker) *child {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = newLogStore(t).logger()
	}
	parentT, childT := mk(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	type joined struct {
		n   *actors.Node
		err error
	}
	ch := make(chan joined, 1)
	go func() {
		n, err := actors.Join(ctx, cfg, childT)
		ch <- joined{n, err}
	}()
	link, err := parent.AttachChild(ctx, name, parentT)
	j := <-ch
	if err != nil || j.err != nil {
		_ = parentT.C.Close()
		_ = childT.C.Close()
		if j.n != nil {
			shutdown(t, j.n)
		}
		t.Fatalf("attach %q: parent: %v, child: %v", name, err, j.err)
	}
	t.Cleanup(func() { shutdown(t, j.n) })
	return &child{node: j.n, link: link, kill: func() { _ = childT.C.Close() }}
}

// pair is a root with one child, both with the full test setup.
func pair(t testing.TB) (root *actors.Node, c *child, k *kinds) {
	t.Helper()
	k = newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root = newRoot(t, cfg)
	c = attach(t, root, "worker", cfg)
	return root, c, k
}

// spawnRemote spawns kind in context id and fails the test on error.
func spawnRemote(t testing.TB, n *actors.Node, id uint32, kind, name string) *actor.PID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	pid, err := n.SpawnRemote(ctx, id, kind, name)
	if err != nil {
		t.Fatalf("SpawnRemote(%d, %q): %v", id, kind, err)
	}
	return pid
}

// ping makes one Ping/Pong round trip and fails the test on error.
func ping(t testing.TB, n *actors.Node, pid *actor.PID, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	pong, err := actors.Request[*Pong](ctx, n, pid, &Ping{Text: text})
	if err != nil {
		t.Fatalf("Request(%s, Ping %q): %v", actors.FormatPID(pid), text, err)
	}
	if pong.Text != text {
		t.Fatalf("Request(%s): Pong %q, want %q", actors.FormatPID(pid), pong.Text, text)
	}
}

// requestAsync starts a request and returns a channel with its outcome and
// how long it took.
type outcome struct {
	v       any
	err     error
	elapsed time.Duration
}

func requestAsync(n *actors.Node, pid *actor.PID, msg any, timeout time.Duration) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		v, err := n.Request(ctx, pid, msg)
		ch <- outcome{v, err, time.Since(start)}
	}()
	return ch
}

// subscribeContextDown collects ContextDown events of n.
func subscribeContextDown(t testing.TB, n *actors.Node) <-chan *actors.ContextDown {
	ch := make(chan *actors.ContextDown, 64)
	sub := n.System().EventStream.Subscribe(func(evt interface{}) {
		if cd, ok := evt.(*actors.ContextDown); ok {
			offer(ch, cd)
		}
	})
	t.Cleanup(func() { n.System().EventStream.Unsubscribe(sub) })
	return ch
}

// contextDownFor waits for the ContextDown event of context id.
func contextDownFor(t testing.TB, ch <-chan *actors.ContextDown, id uint32) *actors.ContextDown {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case cd := <-ch:
			if cd.ID == id {
				return cd
			}
		case <-deadline:
			t.Fatalf("no ContextDown event for context %d", id)
		}
	}
}

// watcherProps returns an actor that watches target when it starts and
// reports, in order, every Terminated and every Ping it receives.
type watchEvent struct {
	term *actor.Terminated
	ping string
}

func watcherProps(target *actor.PID, events chan<- watchEvent, watching chan<- struct{}) *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Watch(target)
			close(watching)
		case *actor.Terminated:
			events <- watchEvent{term: m}
		case *Ping:
			events <- watchEvent{ping: m.Text}
		}
	})
}

// spawnWatcher spawns a watcher of target in n and returns once it has
// issued the Watch: a Watch of a remote actor is queued on the link before
// anything the test sends afterwards.
func spawnWatcher(t testing.TB, n *actors.Node, target *actor.PID, events chan<- watchEvent) *actor.PID {
	t.Helper()
	watching := make(chan struct{})
	pid := n.System().Root.Spawn(watcherProps(target, events, watching))
	recv(t, watching, waitLong, "the watcher to watch "+pidString(target))
	return pid
}

// nextTerminated waits for the next event and requires a Terminated.
func nextTerminated(t testing.TB, events <-chan watchEvent, d time.Duration) *actor.Terminated {
	t.Helper()
	ev := recv(t, events, d, "Terminated")
	if ev.term == nil {
		t.Fatalf("got Ping %q, want Terminated", ev.ping)
	}
	return ev.term
}

// deadError requires err to be a *actors.DeadError matching want.
func deadError(t testing.TB, err, want error) *actors.DeadError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q (%T) does not match %v", err, err, want)
	}
	var de *actors.DeadError
	if !errors.As(err, &de) {
		t.Fatalf("error %q (%T) is not a *actors.DeadError", err, err)
	}
	return de
}

func samePID(a, b *actor.PID) bool {
	return a != nil && b != nil && a.Address == b.Address && a.Id == b.Id
}

func pidString(p *actor.PID) string { return actors.FormatPID(p) }
