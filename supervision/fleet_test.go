package supervision_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

// Tests of the fleet-shaped supervision (issue 15, item 6): parallel
// starts, a child that is down while the others run, per-child intensity,
// WaitUp, OnEvent and typed causes.

// onEvents returns an OnEvent hook and the channel it fills.
func onEvents() (func(supervision.Event), <-chan supervision.Event) {
	ch := make(chan supervision.Event, 4096)
	return func(ev supervision.Event) {
		select {
		case ch <- ev:
		default:
		}
	}, ch
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Every OneForOne child's start is under way before any of them returns:
// each Start waits until all of them have been entered. A sequential
// start would wait out the test's bound.
func TestSupervisor_StartsInParallel(t *testing.T) {
	root := newRoot(t, actors.Config{})
	const n = 3
	var entered atomic.Int32
	all := make(chan struct{})
	gate := func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
		if entered.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return local(ctx, node, name)
	}
	children := workers(n, supervision.Permanent)
	for i := range children {
		children[i].Start = gate
		children[i].StartTimeout = time.Minute
	}
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: children,
		Policy: supervision.Policy{MaxRestarts: -1}}) // a timed-out start gives up
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	if err := s.WaitUp(testCtx(t, 90*time.Second)); err != nil {
		t.Fatalf("WaitUp: %v", err)
	}
	for _, ci := range s.Children() {
		if _, err := ask(t, root, ci.PIDs["w"], 1); err != nil {
			t.Fatalf("%s: %v", ci.Name, err)
		}
	}
}

// A host that refuses connections at start is retried for ever with
// backoff (Intensity{Forever: true}) while the other children come up and
// stay up; WaitUp reports it with its typed cause; once the host is back,
// the child comes up and WaitUp returns nil.
func TestSupervisor_DownChildRetriedForeverOthersStayUp(t *testing.T) {
	root := newRoot(t, actors.Config{})
	addr := refusedAddr(t)
	var back atomic.Bool
	dial := func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
		if !back.Load() {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				_ = conn.Close()
				return nil, errors.New("unexpected listener")
			}
			return nil, err
		}
		return local(ctx, node, name)
	}
	hook, evs := onEvents()
	children := append([]supervision.ContextSpec{{Name: "down", Start: dial,
		Intensity: supervision.Intensity{Forever: true},
		Backoff:   supervision.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond},
		Actors:    []supervision.ActorSpec{{Kind: "worker", Name: "w"}}}}, workers(2, supervision.Permanent)...)
	// The supervisor's own intensity is 1 restart: the down child's
	// failures do not count against it.
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "fleet", Children: children, OnEvent: hook,
		Policy: supervision.Policy{MaxRestarts: 1, Period: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))

	started := map[string]uint32{}
	failures := 0
	deadline := time.After(60 * time.Second)
	for len(started) < 2 || failures < 20 {
		select {
		case ev := <-evs:
			switch ev := ev.(type) {
			case *supervision.ChildStarted:
				started[ev.Child] = ev.ID
			case *supervision.ChildFailed:
				if ev.Child != "down" || !ev.Restart || ev.GaveUp {
					t.Fatalf("unexpected failure %+v", ev)
				}
				if ev.Delay > 40*time.Millisecond {
					t.Fatalf("backoff %v beyond Max 20ms (+ jitter)", ev.Delay)
				}
				var se *supervision.StartError
				if !errors.As(ev.Reason, &se) || se.Child != "down" || !errors.Is(ev.Reason, syscall.ECONNREFUSED) {
					t.Fatalf("ChildFailed.Reason %v (%T): want a *StartError wrapping ECONNREFUSED", ev.Reason, ev.Reason)
				}
				failures++
			default:
				t.Fatalf("unexpected event %T %+v", ev, ev)
			}
		case <-deadline:
			t.Fatalf("started %v, %d failures of the down child", started, failures)
		}
	}
	// WaitTried does not wait for the down child's retries.
	err = s.WaitTried(testCtx(t, 60*time.Second))
	if we2 := (*supervision.WaitError)(nil); !errors.As(err, &we2) || !errors.Is(err, supervision.ErrDown) ||
		len(we2.Down) != 1 || we2.Down[0].Name != "down" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("WaitTried: %v, want ErrDown naming the down child", err)
	}
	// WaitUp names the down child, and only it, with its cause.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = s.WaitUp(ctx)
	cancel()
	var we *supervision.WaitError
	var oe *net.OpError
	if !errors.As(err, &we) || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &oe) {
		t.Fatalf("WaitUp: %v (%T), want a *WaitError with the deadline and the dial error", err, err)
	}
	if len(we.Down) != 1 || we.Down[0].Name != "down" || !errors.Is(we.Down[0].LastErr, syscall.ECONNREFUSED) {
		t.Fatalf("WaitError.Down %+v", we.Down)
	}
	// The healthy children were never touched and answer.
	for _, ci := range s.Children()[1:] {
		if !ci.Up || ci.ID != started[ci.Name] || ci.Restarts != 0 {
			t.Fatalf("healthy child %+v (first ID %d)", ci, started[ci.Name])
		}
		if _, err := ask(t, root, ci.PIDs["w"], 1); err != nil {
			t.Fatalf("%s: %v", ci.Name, err)
		}
	}
	if info, _ := s.Child("down"); info.Up || info.Ended || info.Restarts < 20 {
		t.Fatalf("down child %+v", info)
	}
	// The host is back: the child comes up at its next retry.
	back.Store(true)
	if err := s.WaitUp(testCtx(t, 60*time.Second)); err != nil {
		t.Fatalf("WaitUp after the host is back: %v", err)
	}
	if err := s.WaitTried(testCtx(t, 60*time.Second)); err != nil {
		t.Fatalf("WaitTried with every child up: %v", err)
	}
	ci, _ := s.Child("down")
	if _, err := ask(t, root, ci.PIDs["w"], 1); err != nil || ci.LastErr == nil {
		t.Fatalf("down child after its return: %v, LastErr %v", err, ci.LastErr)
	}
	select {
	case <-s.Done():
		t.Fatalf("supervisor ended: %v", s.Err())
	default:
	}
}

// A flapping child with its own intensity is given up alone: the
// supervisor (whose own intensity is one restart) and its healthy
// children go on; the cause keeps its type.
func TestSupervisor_FlappingChildGivesUpAlone(t *testing.T) {
	root := newRoot(t, actors.Config{})
	hook, evs := onEvents()
	children := workers(3, supervision.Permanent)
	children[0].Intensity = supervision.Intensity{MaxRestarts: 2, Period: time.Hour}
	children[0].Backoff = supervision.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "flappy", Children: children, OnEvent: hook,
		Policy: supervision.Policy{MaxRestarts: 1, Period: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	if err := s.WaitUp(testCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	healthy := s.Children()[1:]
	flap := children[0].Name
	var last *supervision.ChildFailed
	for kill := 1; kill <= 3; kill++ {
		ci, _ := s.Child(flap)
		if err := ci.Context.Kill(); err != nil {
			t.Fatal(err)
		}
		last = nextFrom[*supervision.ChildFailed](t, evs, 30*time.Second)
		if kill < 3 {
			if last.GaveUp || !last.Restart {
				t.Fatalf("failure %d: %+v", kill, last)
			}
			nextFrom[*supervision.ChildRestarted](t, evs, 30*time.Second)
		}
	}
	if !last.GaveUp || last.Restart || last.Child != flap {
		t.Fatalf("third failure %+v, want the child given up", last)
	}
	var exit *spawn.ExitError
	if !errors.As(last.Reason, &exit) {
		t.Fatalf("ChildFailed.Reason %v (%T): want a *spawn.ExitError", last.Reason, last.Reason)
	}
	info, _ := s.Child(flap)
	if info.Up || !info.GaveUp || !info.Ended || !errors.As(info.LastErr, &exit) {
		t.Fatalf("given-up child %+v", info)
	}
	err = s.WaitUp(testCtx(t, 30*time.Second))
	if !errors.Is(err, supervision.ErrChildGaveUp) || !errors.As(err, &exit) {
		t.Fatalf("WaitUp with a given-up child: %v", err)
	}
	select {
	case <-s.Done():
		t.Fatalf("supervisor ended: %v", s.Err())
	default:
	}
	for _, h := range healthy {
		now, _ := s.Child(h.Name)
		if !now.Up || now.ID != h.ID {
			t.Fatalf("healthy child touched: %+v, was %+v", now, h)
		}
		if _, err := ask(t, root, now.PIDs["w"], 1); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
	}
}

// The ctx given to Start governs the supervisor: when it is cancelled,
// every child is stopped and Err reports ctx's cause.
func TestSupervisor_StartCtxStops(t *testing.T) {
	root := newRoot(t, actors.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := supervision.Start(ctx, root, supervision.Config{Children: workers(2, supervision.Permanent)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitUp(testCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	infos := s.Children()
	cancel()
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("supervisor did not end with its ctx")
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Fatalf("Err %v, want context.Canceled", s.Err())
	}
	for _, ci := range infos {
		select {
		case <-ci.Context.Dead():
		default:
			t.Fatalf("%s still running", ci.Name)
		}
	}
	if err := s.WaitUp(testCtx(t, 10*time.Second)); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitUp on an ended supervisor: %v", err)
	}
}

// nextFrom returns the next event of type T from an OnEvent channel.
func nextFrom[T supervision.Event](t testing.TB, ch <-chan supervision.Event, d time.Duration) T {
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

// WaitUp does not wait for a child that ended and is not to be restarted
// (a Transient child that exited with status 0), and ChildInfo says so.
func TestSupervisor_WaitUpSkipsEndedChildren(t *testing.T) {
	root := newRoot(t, actors.Config{})
	hook, evs := onEvents()
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: workers(2, supervision.Transient), OnEvent: hook})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	if err := s.WaitUp(testCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	first := s.Children()[0]
	if err := root.RequestShutdown(first.ID); err != nil { // it exits with status 0
		t.Fatal(err)
	}
	ev := nextFrom[*supervision.ChildFailed](t, evs, 30*time.Second)
	if ev.Restart || ev.Child != first.Name {
		t.Fatalf("clean exit of a Transient child: %+v", ev)
	}
	if code, ok := spawn.ExitStatus(ev.Reason); !ok || code != 0 {
		t.Fatalf("Reason %v, want exit status 0", ev.Reason)
	}
	if err := s.WaitUp(testCtx(t, 30*time.Second)); err != nil {
		t.Fatalf("WaitUp with an ended child: %v", err)
	}
	if ci, _ := s.Child(first.Name); ci.Up || !ci.Ended || ci.GaveUp || ci.LastErr == nil {
		t.Fatalf("ended child %+v", ci)
	}
}
