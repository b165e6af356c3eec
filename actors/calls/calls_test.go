package calls_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/internal/msgptest"
)

func TestCall_ParentToChild(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	got, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), calls.Of(root), k.link.ID, "echo", &Echo{Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "hi" || got.Ctx != k.link.ID || got.Caller != 0 {
		t.Fatalf("got %+v, want text hi from ctx %d, caller 0", got, k.link.ID)
	}
}

func TestCall_OwnContext(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	got, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), ep, ep.ID(), "echo", &Echo{Text: "me"})
	if err != nil || got.Ctx != 0 || got.Caller != 0 {
		t.Fatalf("local call = %+v, %v", got, err)
	}
	_, err = calls.Call[Fail, Empty](ctxWith(t, waitLong), ep, ep.ID(), "fail", &Fail{How: "sentinel"})
	if !errors.Is(err, ErrGone) {
		t.Fatalf("local failing call = %v, want ErrGone", err)
	}
}

// TestCall_FunctionFromChildRefused: CALL_FUNCTION is privileged, a child
// may not call its parent's functions (its grandparent's neither).
func TestCall_FunctionFromChildRefused(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	_, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), k.ep, 0, "echo", &Echo{Text: "up"})
	var re *calls.RemoteError
	if !errors.Is(err, calls.ErrRefused) || !errors.Is(err, actors.ErrRefused) || !errors.As(err, &re) || re.Code != calls.CodeRefused {
		t.Fatalf("child -> root CALL_FUNCTION = %v, want a RemoteError matching ErrRefused", err)
	}
	// A refused caller learns no names: an unknown function is refused too.
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), k.ep, 0, "nope", &Echo{}); !errors.Is(err, calls.ErrRefused) {
		t.Fatalf("child -> root unknown function = %v, want ErrRefused", err)
	}
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), calls.Of(root), k.link.ID, "nope", &Echo{}); !errors.Is(err, calls.ErrNotFound) {
		t.Fatalf("root -> child unknown function = %v, want ErrNotFound", err)
	}
}

// TestCall_ErrorsRoundTrip: registered sentinels and types come back as
// themselves; other errors as a RemoteError with code and text; a panic
// is ErrPanic and the context goes on.
func TestCall_ErrorsRoundTrip(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	ep := calls.Of(root)
	call := func(how string) error {
		_, err := calls.Call[Fail, Empty](ctxWith(t, waitLong), ep, k.link.ID, "fail", &Fail{How: how})
		return err
	}
	err := call("sentinel")
	var re *calls.RemoteError
	if !errors.Is(err, ErrGone) || !errors.As(err, &re) || re.Code != calls.CodeError || re.Context != k.link.ID || re.Name != "fail" {
		t.Fatalf("sentinel: %v (%+v)", err, re)
	}
	if !strings.Contains(re.Message, "looking") {
		t.Errorf("sentinel message %q lost the handler's wrapping", re.Message)
	}
	var ce *CodedError
	if err := call("typed"); !errors.As(err, &ce) || ce.Code != 42 || ce.Msg != "answer" {
		t.Fatalf("typed: %v, %+v", err, ce)
	}
	err = call("plain")
	if !errors.As(err, &re) || re.Code != calls.CodeError || re.Err != nil || errors.Is(err, ErrGone) {
		t.Fatalf("plain: %v", err)
	}
	if err := call("panic"); !errors.Is(err, calls.ErrPanic) || !errors.As(err, &re) || !strings.Contains(re.Message, "handler blew up") {
		t.Fatalf("panic: %v", err)
	}
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), ep, k.link.ID, "echo", &Echo{Text: "alive"}); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
}

func TestCall_DeadlineTravels(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	ep := calls.Of(root)
	got, err := calls.Call[Empty, Ended](ctxWith(t, 20*time.Second), ep, k.link.ID, "deadline", &Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.HadDeadline || got.Left <= 0 || got.Left > 20*time.Second {
		t.Fatalf("handler saw deadline %v, %v left; want one within 20s", got.HadDeadline, got.Left)
	}
	got, err = calls.Call[Empty, Ended](context.Background(), ep, k.link.ID, "deadline", &Empty{})
	if err != nil || got.HadDeadline {
		t.Fatalf("without a deadline: %+v, %v", got, err)
	}
}

// TestCall_CancelReachesHandler: the caller's cancellation cancels the
// handler's ctx in the callee, running or queued.
func TestCall_CancelReachesHandler(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	ep := calls.Of(root)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := calls.Call[Block, Blocked](ctx, ep, k.link.ID, "block", &Block{Key: "c1"})
		done <- err
	}()
	recv(t, stateOf(k.node).startedCh("c1"), waitLong, "handler start")
	cancel()
	if err := recv(t, done, atOnce, "Call's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v, want context.Canceled", err)
	}
	e := recv(t, stateOf(k.node).ended, waitLong, "handler end")
	if !e.Canceled || e.HadDeadline {
		t.Fatalf("handler saw %+v, want cancelled without deadline", e)
	}
	waitFor(t, waitLong, "callee forgets the call", func() bool { return k.ep.Stats().Calls == 0 })
	if s := ep.Stats(); s.Pending != 0 {
		t.Fatalf("caller still has %d pending", s.Pending)
	}
}

// TestCall_TargetDeathFailsAtOnce: a call waiting on a context that dies
// fails at once, with the typed cause.
func TestCall_TargetDeathFailsAtOnce(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	done := make(chan error, 1)
	go func() {
		_, err := calls.Call[Block, Blocked](ctxWith(t, ctxLong), calls.Of(root), k.link.ID, "block", &Block{Key: "d"})
		done <- err
	}()
	recv(t, stateOf(k.node).startedCh("d"), waitLong, "handler start")
	_ = k.conn.Close()
	err := recv(t, done, atOnce, "Call's return after the death")
	var de *actors.DeadError
	if !errors.Is(err, actors.ErrContextDead) || !errors.As(err, &de) || de.Context != k.link.ID {
		t.Fatalf("Call = %v, want a DeadError for context %d", err, k.link.ID)
	}
	// Later calls fail at once from the dead record.
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, ctxLong), calls.Of(root), k.link.ID, "echo", &Echo{}); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("call to the dead context = %v", err)
	}
}

// TestCall_UndeliverableFailsAtOnce: a call frame that no route leads to
// comes back as an IS_DEAD naming the call (Node.HandleKindReplies).
func TestCall_UndeliverableFailsAtOnce(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	start := time.Now()
	_, err := calls.CallService[Echo, Echoed](ctxWith(t, ctxLong), k.ep, 999, "pub", "echo", &Echo{})
	if !errors.Is(err, actors.ErrContextDead) || !errors.Is(err, actors.ErrNoRoute) {
		t.Fatalf("call to context 999 = %v, want ErrContextDead and ErrNoRoute", err)
	}
	if took := time.Since(start); took > atOnce {
		t.Fatalf("took %v: failed at its deadline, not at once", took)
	}
}

// TestService_Policies: services say who may call them.
func TestService_Policies(t *testing.T) {
	root := newRoot(t, calls.Config{})
	a := attach(t, root, "a") // ctx 1
	b := attach(t, root, "b") // ctx 2
	ctx := ctxWith(t, waitLong)
	if got, err := calls.CallService[Echo, Echoed](ctx, a.ep, b.link.ID, "pub", "echo", &Echo{Text: "sib"}); err != nil || got.Caller != a.link.ID {
		t.Fatalf("sibling -> AnyContext service = %+v, %v", got, err)
	}
	if _, err := calls.CallService[Echo, Echoed](ctx, a.ep, b.link.ID, "priv", "echo", &Echo{}); !errors.Is(err, calls.ErrRefused) {
		t.Fatalf("sibling -> Ancestors service = %v, want ErrRefused", err)
	}
	if _, err := calls.CallService[Echo, Echoed](ctx, calls.Of(root), b.link.ID, "priv", "echo", &Echo{}); err != nil {
		t.Fatalf("parent -> Ancestors service = %v", err)
	}
	if _, err := calls.CallService[Echo, Echoed](ctx, a.ep, b.link.ID, "odd", "echo", &Echo{}); err != nil {
		t.Fatalf("ctx %d -> odd-IDs service = %v", a.link.ID, err)
	}
	if _, err := calls.CallService[Echo, Echoed](ctx, b.ep, a.link.ID, "odd", "echo", &Echo{}); !errors.Is(err, calls.ErrRefused) {
		t.Fatalf("ctx %d -> odd-IDs service = %v, want ErrRefused", b.link.ID, err)
	}
	if _, err := calls.CallService[Echo, Echoed](ctx, a.ep, b.link.ID, "pub", "nope", &Echo{}); !errors.Is(err, calls.ErrNotFound) {
		t.Fatalf("unknown method = %v, want ErrNotFound", err)
	}
	if _, err := calls.CallService[Echo, Echoed](ctx, a.ep, b.link.ID, "nope", "echo", &Echo{}); !errors.Is(err, calls.ErrNotFound) {
		t.Fatalf("unknown service = %v, want ErrNotFound", err)
	}
	if _, err := calls.CallService[Echo, Echoed](ctx, a.ep, 0, "pub", "echo", &Echo{}); err != nil {
		t.Fatalf("child -> parent AnyContext service = %v", err)
	}
}

// TestService_OwnLimit: a service runs at most MaxConcurrent calls and
// queues MaxQueued; the next is ErrBusy; a cancelled queued call leaves.
func TestService_OwnLimit(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	ep := calls.Of(root)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 4 { // "pub": 2 running, 2 queued
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = calls.CallService[Block, Blocked](ctx, ep, k.link.ID, "pub", "block", &Block{Key: string(rune('a' + i))})
		}()
	}
	waitFor(t, waitLong, "4 calls admitted", func() bool { return k.ep.Stats().Calls == 4 })
	if s := k.ep.Stats(); s.Running != 2 {
		t.Fatalf("running %d, want the service's MaxConcurrent 2", s.Running)
	}
	_, err := calls.CallService[Block, Blocked](ctxWith(t, waitLong), ep, k.link.ID, "pub", "block", &Block{Key: "x"})
	if !errors.Is(err, calls.ErrBusy) {
		t.Fatalf("fifth call = %v, want ErrBusy", err)
	}
	// Plain functions have their own pool.
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), ep, k.link.ID, "echo", &Echo{}); err != nil {
		t.Fatalf("function while the service is full: %v", err)
	}
	cancel()
	wg.Wait()
	waitFor(t, waitLong, "calls released", func() bool { return k.ep.Stats().Calls == 0 })
}

// TestGo_ActorGetsResult: an actor calls through Go and gets a Result.
func TestGo_ActorGetsResult(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	ep := calls.Of(root)
	got := make(chan *calls.Result[Echoed], 1)
	props := actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case string:
			calls.Go(context.Background(), ep, c.Self(), m, func(ctx context.Context) (*Echoed, error) {
				return calls.Call[Echo, Echoed](ctx, ep, k.link.ID, "echo", &Echo{Text: m})
			})
		case *calls.Result[Echoed]:
			got <- m
		}
	})
	pid := root.System().Root.Spawn(props)
	root.System().Root.Send(pid, "job-1")
	r := recv(t, got, waitLong, "the Result")
	if r.Err != nil || r.Tag != "job-1" || r.Resp.Text != "job-1" {
		t.Fatalf("Result %+v", r)
	}
}

// TestGather: one outcome per target, in order, each with its own error,
// at most MaxConcurrent in flight.
func TestGather(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	var ids []uint32
	var kids []*kid
	for _, name := range []string{"a", "b", "c"} {
		k := attach(t, root, name)
		kids = append(kids, k)
		ids = append(ids, k.link.ID)
	}
	_ = kids[1].conn.Close()
	<-kids[1].link.Done()
	targets := append(ids, 999, ep.ID())
	var mu sync.Mutex
	inFlight, most := 0, 0
	outs := calls.Gather(ctxWith(t, waitLong), targets, calls.GatherOptions{MaxConcurrent: 2, Timeout: waitLong},
		func(ctx context.Context, id uint32) (*Echoed, error) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
			return calls.Call[Echo, Echoed](ctx, ep, id, "echo", &Echo{Text: "all"})
		})
	if len(outs) != len(targets) || most > 2 {
		t.Fatalf("%d outcomes for %d targets, %d in flight at most (want <= 2)", len(outs), len(targets), most)
	}
	for i, o := range outs {
		if o.Context != targets[i] {
			t.Fatalf("outcome %d is for %d, want %d", i, o.Context, targets[i])
		}
		wantErr := i == 1 || i == 3
		if wantErr != (o.Err != nil) || (o.Err == nil && o.Resp.Ctx != targets[i]) {
			t.Errorf("target %d: %+v, %v", o.Context, o.Resp, o.Err)
		}
		if wantErr && !errors.Is(o.Err, actors.ErrContextDead) {
			t.Errorf("target %d: %v, want ErrContextDead", o.Context, o.Err)
		}
	}
	all := calls.CallAll[Echo, Echoed](ctxWith(t, waitLong), ep, []uint32{ids[0], ids[2]}, "echo", &Echo{Text: "x"}, calls.GatherOptions{})
	for _, o := range all {
		if o.Err != nil || o.Resp.Text != "x" {
			t.Fatalf("CallAll: %+v", o)
		}
	}
}

// TestGather_Deadline: the fan-out ends by its ctx; blocked targets fail
// with the deadline, the others answer.
func TestGather_Deadline(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	a := attach(t, root, "a")
	b := attach(t, root, "b")
	outs := calls.Gather(ctxWith(t, waitLong), []uint32{a.link.ID, b.link.ID}, calls.GatherOptions{Timeout: 200 * time.Millisecond},
		func(ctx context.Context, id uint32) (*Blocked, error) {
			if id == a.link.ID {
				return calls.Call[Block, Blocked](ctx, ep, id, "block", &Block{Key: "g"})
			}
			_, err := calls.Call[Echo, Echoed](ctx, ep, id, "echo", &Echo{})
			return &Blocked{}, err
		})
	if !errors.Is(outs[0].Err, context.DeadlineExceeded) || outs[1].Err != nil {
		t.Fatalf("outcomes %+v", outs)
	}
	e := recv(t, stateOf(a.node).ended, waitLong, "blocked handler's end")
	if !e.Canceled || !e.HadDeadline {
		t.Fatalf("blocked handler saw %+v", e)
	}
}

func TestEndpoint_CloseFailsPendingAndCancelsHandlers(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	ep := calls.Of(root)
	done := make(chan error, 1)
	go func() {
		_, err := calls.Call[Block, Blocked](ctxWith(t, ctxLong), ep, k.link.ID, "block", &Block{Key: "z"})
		done <- err
	}()
	recv(t, stateOf(k.node).startedCh("z"), waitLong, "handler start")
	if err := k.ep.Close(ctxWith(t, waitLong)); err != nil { // the callee closes: its handler is cancelled
		t.Fatal(err)
	}
	if err := recv(t, done, atOnce, "Call's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v, want the handler's context.Canceled", err)
	}
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), ep, k.link.ID, "echo", &Echo{}); !errors.Is(err, calls.ErrClosed) {
		t.Fatalf("call to a closed endpoint = %v, want ErrClosed", err)
	}
	if err := ep.Close(ctxWith(t, waitLong)); err != nil {
		t.Fatal(err)
	}
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), ep, k.link.ID, "echo", &Echo{}); !errors.Is(err, calls.ErrClosed) {
		t.Fatalf("call from a closed endpoint = %v, want ErrClosed", err)
	}
}

// TestCall_GeneratedCodecs: types with msgp-generated codecs travel both
// ways (the reflection-free path), with nil answers as zero values.
func TestCall_GeneratedCodecs(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	in := &msgptest.Small{ID: 41, Name: "n", Value: 1.5, Tags: []string{"a", "b"}, Blob: []byte{1, 2}}
	got, err := calls.Call[msgptest.Small, msgptest.Small](ctxWith(t, waitLong), calls.Of(root), k.link.ID, "gen", in)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 42 || got.Name != "n" || got.Value != 1.5 || len(got.Tags) != 2 || len(got.Blob) != 2 {
		t.Fatalf("got %+v", got)
	}
	got, err = calls.Call[msgptest.Small, msgptest.Small](ctxWith(t, waitLong), calls.Of(root), k.link.ID, "gen", nil)
	if err != nil || got == nil || got.ID != 1 {
		t.Fatalf("nil request: %+v, %v", got, err)
	}
}

// TestCall_ThroughMiddle: calls reach a grandchild through its parent;
// both ancestors may call its functions; its death fails a pending call at
// the root at once.
func TestCall_ThroughMiddle(t *testing.T) {
	root := newRoot(t, calls.Config{})
	mid := attach(t, root, "mid")
	gk := attach(t, mid.node, "grandchild")
	waitFor(t, waitLong, "the root learns the route", func() bool { _, ok := root.Routes()[gk.link.ID]; return ok })
	ep := calls.Of(root)
	got, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), ep, gk.link.ID, "echo", &Echo{Text: "deep"})
	if err != nil || got.Ctx != gk.link.ID || got.Caller != 0 {
		t.Fatalf("root -> grandchild: %+v, %v", got, err)
	}
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), mid.ep, gk.link.ID, "echo", &Echo{}); err != nil {
		t.Fatalf("middle -> its child: %v", err)
	}
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), gk.ep, mid.link.ID, "echo", &Echo{}); !errors.Is(err, calls.ErrRefused) {
		t.Fatalf("grandchild -> its parent's function: %v, want ErrRefused", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := calls.Call[Block, Blocked](ctxWith(t, ctxLong), ep, gk.link.ID, "block", &Block{Key: "deep"})
		done <- err
	}()
	recv(t, stateOf(gk.node).startedCh("deep"), waitLong, "grandchild's handler start")
	_ = gk.conn.Close() // the middle loses its child
	if err := recv(t, done, atOnce, "Call's return"); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("call to the dead grandchild = %v, want ErrContextDead", err)
	}
}

// TestCall_RefusedBetweenIsolatedChildren: in unidirectional mode the
// middle context refuses a call between two of its children with an
// IS_DEAD naming the call, which fails at once with ErrRefused.
func TestCall_RefusedBetweenIsolatedChildren(t *testing.T) {
	root := newRootNode(t, actors.Config{Unidirectional: true}, calls.Config{})
	a := attach(t, root, "a")
	b := attach(t, root, "b")
	start := time.Now()
	_, err := calls.CallService[Echo, Echoed](ctxWith(t, ctxLong), a.ep, b.link.ID, "pub", "echo", &Echo{})
	if !errors.Is(err, actors.ErrRefused) || !errors.Is(err, actors.ErrRejected) {
		t.Fatalf("call between isolated siblings = %v, want ErrRefused", err)
	}
	if took := time.Since(start); took > atOnce {
		t.Fatalf("took %v: failed at its deadline, not at once", took)
	}
	if _, err := calls.CallService[Echo, Echoed](ctxWith(t, waitLong), a.ep, 0, "pub", "echo", &Echo{}); err != nil {
		t.Fatalf("child -> parent in unidirectional mode: %v", err)
	}
}

// TestCallAll_TimeoutCancelAndWindow: CallAll's per-target timeout and the
// caller's cancellation reach the handlers, with a window of 1 (targets not
// started when ctx ends fail with its error).
func TestCallAll_TimeoutCancelAndWindow(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	a := attach(t, root, "a")
	b := attach(t, root, "b")
	ids := []uint32{a.link.ID, b.link.ID}
	outs := calls.CallAll[Block, Blocked](ctxWith(t, waitLong), ep, ids, "block", &Block{Key: "t"},
		calls.GatherOptions{MaxConcurrent: 1, Timeout: 100 * time.Millisecond})
	for i, o := range outs {
		if o.Context != ids[i] || !errors.Is(o.Err, context.DeadlineExceeded) || o.Resp != nil {
			t.Fatalf("outcome %d: %+v", i, o)
		}
	}
	ea := recv(t, stateOf(a.node).ended, waitLong, "a's handler end")
	eb := recv(t, stateOf(b.node).ended, waitLong, "b's handler end")
	if !ea.Canceled || !ea.HadDeadline || !eb.Canceled || !eb.HadDeadline {
		t.Fatalf("handlers saw %+v and %+v", ea, eb)
	}
	waitFor(t, waitLong, "the callees forget the calls", func() bool { return a.ep.Stats().Calls == 0 && b.ep.Stats().Calls == 0 })

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stateOf(a.node).startedCh("c")
		cancel()
	}()
	outs = calls.CallAll[Block, Blocked](ctx, ep, ids, "block", &Block{Key: "c"}, calls.GatherOptions{MaxConcurrent: 1})
	for i, o := range outs {
		if !errors.Is(o.Err, context.Canceled) {
			t.Fatalf("outcome %d after cancel: %+v", i, o)
		}
	}
	if e := recv(t, stateOf(a.node).ended, waitLong, "a's handler end"); !e.Canceled {
		t.Fatalf("a's handler saw %+v", e)
	}
	if s := ep.Stats(); s.Pending != 0 {
		t.Fatalf("root still waits for %d calls", s.Pending)
	}
}

// TestCall_AnswerOverMaxReply: the callee refuses to send an answer over
// its own MaxReply (too_large), and the caller refuses one over its own.
func TestCall_AnswerOverMaxReply(t *testing.T) {
	root := newRoot(t, calls.Config{MaxReply: 64 << 10})
	small := attachWith(t, root, "small", calls.Config{MaxReply: 16 << 10})
	big := attach(t, root, "big")
	ep := calls.Of(root)
	_, err := calls.Call[Big, Blob](ctxWith(t, waitLong), ep, small.link.ID, "big", &Big{N: 32 << 10})
	var re *calls.RemoteError
	if !errors.Is(err, calls.ErrTooLarge) || !errors.As(err, &re) || re.Code != calls.CodeTooLarge {
		t.Fatalf("callee's answer over its MaxReply = %v, want a too_large RemoteError", err)
	}
	_, err = calls.Call[Big, Blob](ctxWith(t, waitLong), ep, big.link.ID, "big", &Big{N: 100 << 10})
	if !errors.Is(err, calls.ErrTooLarge) || errors.As(err, &re) {
		t.Fatalf("answer over the caller's MaxReply = %v, want a local ErrTooLarge", err)
	}
	got, err := calls.Call[Big, Blob](ctxWith(t, waitLong), ep, big.link.ID, "big", &Big{N: 32 << 10})
	if err != nil || len(got.B) != 32<<10 {
		t.Fatalf("answer within the limits: %d bytes, %v", len(got.B), err)
	}
}

// TestEndpoint_CloseAnswersQueuedCalls: calls queued in a closing endpoint
// fail with ErrClosed at the caller, running ones see their ctx cancelled.
func TestEndpoint_CloseAnswersQueuedCalls(t *testing.T) {
	root := newRoot(t, calls.Config{})
	k := attach(t, root, "worker")
	ep := calls.Of(root)
	errs := make(chan error, 4)
	for i := range 4 { // "pub": 2 running, 2 queued
		go func() {
			_, err := calls.CallService[Block, Blocked](ctxWith(t, ctxLong), ep, k.link.ID, "pub", "block", &Block{Key: fmt.Sprint("q", i)})
			errs <- err
		}()
	}
	waitFor(t, waitLong, "4 calls admitted", func() bool { return k.ep.Stats().Calls == 4 })
	if err := k.ep.Close(ctxWith(t, waitLong)); err != nil {
		t.Fatal(err)
	}
	closed, cancelled := 0, 0
	for range 4 {
		switch err := recv(t, errs, atOnce, "a call's return"); {
		case errors.Is(err, calls.ErrClosed):
			closed++
		case errors.Is(err, context.Canceled):
			cancelled++
		default:
			t.Fatalf("call = %v, want ErrClosed or context.Canceled", err)
		}
	}
	if closed != 2 || cancelled != 2 {
		t.Fatalf("%d closed, %d cancelled; want 2 and 2", closed, cancelled)
	}
}

// TestCall_ChunkedBothWays: a request and an answer bigger than a chunk
// (wire.DefaultChunkSize) travel in pieces and arrive whole, also through
// a middle context.
func TestCall_ChunkedBothWays(t *testing.T) {
	root := newRoot(t, calls.Config{})
	mid := attach(t, root, "mid")
	gk := attach(t, mid.node, "grandchild")
	waitFor(t, waitLong, "the root learns the route", func() bool { _, ok := root.Routes()[gk.link.ID]; return ok })
	ep := calls.Of(root)
	const size = 300 << 10
	n, err := calls.Call[Blob, Big](ctxWith(t, waitLong), ep, gk.link.ID, "len", &Blob{B: make([]byte, size)})
	if err != nil || n.N != size {
		t.Fatalf("chunked request: %+v, %v", n, err)
	}
	b, err := calls.Call[Big, Blob](ctxWith(t, waitLong), ep, gk.link.ID, "big", &Big{N: size})
	if err != nil || len(b.B) != size {
		t.Fatalf("chunked answer: %d bytes, %v", len(b.B), err)
	}
}

// TestCall_OwnContextCancel: a call to the endpoint's own context is
// cancelled like a remote one.
func TestCall_OwnContextCancel(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := calls.Call[Block, Blocked](ctx, ep, ep.ID(), "block", &Block{Key: "self"})
		done <- err
	}()
	recv(t, stateOf(root).startedCh("self"), waitLong, "handler start")
	cancel()
	if err := recv(t, done, atOnce, "Call's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v", err)
	}
	if e := recv(t, stateOf(root).ended, waitLong, "handler end"); !e.Canceled {
		t.Fatalf("handler saw %+v", e)
	}
}

// TestRegistration_Errors: names are registered once, within MaxNameLen;
// a second endpoint for a node is refused.
func TestRegistration_Errors(t *testing.T) {
	root := newRoot(t, calls.Config{})
	ep := calls.Of(root)
	if ep.Node() != root {
		t.Fatal("Node() is not the endpoint's node")
	}
	echo := func(context.Context, *Echo) (*Echoed, error) { return &Echoed{}, nil }
	long := strings.Repeat("x", calls.MaxNameLen+1)
	svc, err := calls.NewService(ep, "extra", calls.ServiceConfig{})
	if err != nil || svc.Name() != "extra" {
		t.Fatalf("NewService: %v", err)
	}
	for what, err := range map[string]error{
		"function twice":  calls.Handle(ep, "echo", echo),
		"long function":   calls.Handle(ep, long, echo),
		"empty function":  calls.Handle(ep, "", echo),
		"nil handler":     calls.Handle[Echo, Echoed](ep, "nil", nil),
		"method twice":    errors.Join(calls.Method(svc, "m", echo), calls.Method(svc, "m", echo)),
		"error twice":     calls.RegisterError(ep, "test.ErrGone", ErrGone),
		"nil error":       calls.RegisterError(ep, "nil", nil),
		"interface type":  calls.RegisterErrorType[error](ep, "iface"),
		"long error name": calls.RegisterError(ep, long, ErrGone),
		"second endpoint": func() error { _, err := calls.New(root, calls.Config{}); return err }(),
		"MaxHeld too low": func() error {
			_, err := calls.New(root, calls.Config{MaxRequest: 2 << 20, MaxHeld: 1 << 20})
			return err
		}(),
		"service twice": func() error { _, err := calls.NewService(ep, "extra", calls.ServiceConfig{}); return err }(),
		"long service":  func() error { _, err := calls.NewService(ep, long, calls.ServiceConfig{}); return err }(),
		"empty method arg": func() error {
			_, err := calls.CallService[Echo, Echoed](context.Background(), ep, 0, "pub", "", &Echo{})
			return err
		}(),
	} {
		if err == nil {
			t.Errorf("%s: no error", what)
		}
	}
	if !errors.Is(func() error { _, err := calls.New(root, calls.Config{}); return err }(), actors.ErrKindTaken) {
		t.Error("second endpoint: want actors.ErrKindTaken")
	}
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), ep, ep.ID(), long, &Echo{}); err == nil {
		t.Error("call of a name over MaxNameLen: no error")
	}
}

// TestService_DescendantsPolicy: a service for the callee's subtree.
func TestService_DescendantsPolicy(t *testing.T) {
	root := newRoot(t, calls.Config{})
	a := attach(t, root, "a")
	b := attach(t, root, "b")
	gk := attach(t, a.node, "grandchild")
	waitFor(t, waitLong, "the root learns the route", func() bool { _, ok := root.Routes()[gk.link.ID]; return ok })
	ctx := ctxWith(t, waitLong)
	for _, c := range []struct {
		from   *calls.Endpoint
		to     uint32
		refuse bool
	}{
		{a.ep, 0, false}, {gk.ep, 0, false}, {gk.ep, a.link.ID, false},
		{b.ep, a.link.ID, true}, {calls.Of(root), a.link.ID, true}, {a.ep, gk.link.ID, true},
	} {
		got, err := calls.CallService[Echo, Echoed](ctx, c.from, c.to, "up", "echo", &Echo{})
		if c.refuse != errors.Is(err, calls.ErrRefused) || (!c.refuse && got.Caller != c.from.ID()) {
			t.Errorf("%d -> %d: %+v, %v (refused wanted: %v)", c.from.ID(), c.to, got, err, c.refuse)
		}
	}
}

// TestService_SubtreeBoundedPerLink: the contexts behind one child link
// share MaxPerLink, whatever their number; another child link has its own.
func TestService_SubtreeBoundedPerLink(t *testing.T) {
	root := newRoot(t, calls.Config{MaxPerCaller: 2, MaxPerLink: 3})
	ep := calls.Of(root)
	mid := attach(t, root, "mid")
	gk1 := attach(t, mid.node, "gk1")
	gk2 := attach(t, mid.node, "gk2")
	other := attach(t, root, "other")
	for _, k := range []*kid{gk1, gk2} {
		id := k.link.ID
		waitFor(t, waitLong, "the root learns the routes", func() bool { _, ok := root.Routes()[id]; return ok })
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	call := func(k *kid, key string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := calls.CallService[Block, Blocked](ctx, k.ep, 0, "probe", "block", &Block{Key: key})
			errs <- err
		}()
	}
	call(gk1, "l1")
	call(gk1, "l2")
	waitFor(t, waitLong, "gk1's calls admitted", func() bool { return ep.Stats().Calls == 2 })
	call(gk2, "l3")
	waitFor(t, waitLong, "gk2's first call admitted", func() bool { return ep.Stats().Calls == 3 })
	call(gk2, "l4") // the link's fourth: busy, though gk2 has one call only
	if err := recv(t, errs, waitLong, "the fourth call"); !errors.Is(err, calls.ErrBusy) {
		t.Fatalf("fourth call behind one link = %v, want ErrBusy", err)
	}
	call(other, "o1")
	call(other, "o2")
	waitFor(t, waitLong, "the other link's calls admitted", func() bool { return ep.Stats().Calls == 5 })
	cancel()
	wg.Wait()
	waitFor(t, waitLong, "everything freed", func() bool { return ep.Stats().Calls == 0 })
}
