package spawn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn"
)

// PidReq and PidResp are the test.pid function every test context serves:
// the process ID, so that a test reaches a context with one call and can
// then look for its process in /proc.
type (
	PidReq  struct{}
	PidResp struct{ Pid int }
)

func pidSetup(n *actors.Node, ep *calls.Endpoint) error {
	if err := calls.Handle(ep, "test.pid", func(context.Context, *PidReq) (*PidResp, error) {
		return &PidResp{Pid: os.Getpid()}, nil
	}); err != nil {
		return err
	}
	// test.downbytes: the bytes this context sent down to its children
	// (all links to children, heartbeats included), for the benchmark's
	// count of what a death costs the tree.
	return calls.Handle(ep, "test.downbytes", func(context.Context, *PidReq) (*DownBytes, error) {
		var d DownBytes
		for _, s := range n.LinkStats() {
			if !s.IsParent {
				d.Frames += s.FramesOut
				d.Bytes += s.BytesOut
			}
		}
		return &d, nil
	})
}

// DownBytes is what test.downbytes answers.
type DownBytes struct{ Frames, Bytes uint64 }

// fanTree is a tree of local contexts: mids started by the root, each with
// per children started through it (Via).
type fanTree struct {
	mids []*spawn.Context
	kids [][]*spawn.Context // kids[i] behind mids[i]
}

// fanOpts say how a fan-out tree is made.
type fanOpts struct {
	mids, per int
	exe       string // the children's executable ("": this test binary)
	// starts bounds the starts in flight in the whole tree (0: all at
	// once): a test beside other packages' tests keeps the machine's run
	// queue short with it.
	starts int
}

// buildFanTree starts o.mids intermediates, then o.per children through
// each, all intermediates at once and all of one intermediate's children
// at once (its spindle.via pool runs 64).
func buildFanTree(ctx context.Context, tb testing.TB, root *actors.Node, o fanOpts) *fanTree {
	tb.Helper()
	tr := &fanTree{mids: make([]*spawn.Context, o.mids), kids: make([][]*spawn.Context, o.mids)}
	errs := make(chan error, o.mids*(o.per+1))
	slots := make(chan struct{}, max(o.starts, o.mids*(o.per+1)))
	if o.starts > 0 {
		slots = make(chan struct{}, o.starts)
	}
	take := func() bool {
		select {
		case slots <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var wg sync.WaitGroup
	for i := range tr.mids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !take() {
				return
			}
			m, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: fmt.Sprintf("mid%d", i), Grace: time.Second}})
			<-slots
			if err != nil {
				errs <- fmt.Errorf("mid%d: %w", i, err)
				return
			}
			tr.mids[i] = m
			tr.kids[i] = make([]*spawn.Context, o.per)
			var kw sync.WaitGroup
			for j := range o.per {
				kw.Add(1)
				go func() {
					defer kw.Done()
					if !take() {
						return
					}
					c, err := spawn.Local(ctx, root, spawn.Options{Executable: o.exe,
						Common: spawn.Common{Name: fmt.Sprintf("m%d-k%d", i, j), Grace: time.Second, Via: m}})
					<-slots
					if err != nil {
						errs <- fmt.Errorf("m%d-k%d: %w (intermediate dead: %v)", i, j, err, m.DeadReason())
						return
					}
					tr.kids[i][j] = c
				}()
			}
			kw.Wait()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	if ctx.Err() != nil {
		tb.Fatalf("building the tree: %v", ctx.Err())
	}
	return tr
}

// fanRoot is newRoot with a heartbeat timeout of 30 s instead of 5 s
// (children adopt it): in CI, 200 race-instrumented processes start beside
// other packages' tests on 2 cores, and a link quiet for 5 s there is load,
// not death.
func fanRoot(tb testing.TB) *actors.Node {
	tb.Helper()
	n, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, HeartbeatTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return n
}

// ids returns the context IDs of every context of the tree.
func (tr *fanTree) ids() []uint32 {
	var ids []uint32
	for i, m := range tr.mids {
		ids = append(ids, m.ID())
		for _, c := range tr.kids[i] {
			ids = append(ids, c.ID())
		}
	}
	return ids
}

// pids calls test.pid in each of targets from the root and returns the
// process IDs by context ID; every call must succeed.
func pidsOf(ctx context.Context, tb testing.TB, root *actors.Node, targets []uint32) map[uint32]int {
	tb.Helper()
	outs := calls.CallAll[PidReq, PidResp](ctx, calls.Of(root), targets, "test.pid", &PidReq{}, calls.GatherOptions{MaxConcurrent: 64})
	pids := make(map[uint32]int, len(outs))
	for _, o := range outs {
		if o.Err != nil {
			tb.Fatalf("context %d unreachable from the root: %v", o.Context, o.Err)
		}
		pids[o.Context] = o.Resp.Pid
	}
	return pids
}

// downWatch collects the root's ContextDown events from now on.
type downWatch struct {
	mu   sync.Mutex
	seen map[uint32]*actors.DeadError
	at   map[uint32]time.Time
	ch   chan struct{}
}

func watchDowns(tb testing.TB, root *actors.Node) *downWatch {
	w := &downWatch{seen: map[uint32]*actors.DeadError{}, at: map[uint32]time.Time{}, ch: make(chan struct{}, 1)}
	sub := root.System().EventStream.Subscribe(func(evt any) {
		if d, ok := evt.(*actors.ContextDown); ok {
			now := time.Now()
			w.mu.Lock()
			if _, dup := w.seen[d.ID]; !dup {
				w.seen[d.ID], w.at[d.ID] = d.Reason, now
			}
			w.mu.Unlock()
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	})
	tb.Cleanup(func() { root.System().EventStream.Unsubscribe(sub) })
	return w
}

// waitAll waits until every one of ids was reported down, and returns
// when the last of them was.
func (w *downWatch) waitAll(ctx context.Context, tb testing.TB, ids []uint32) time.Time {
	tb.Helper()
	for {
		w.mu.Lock()
		missing, last := 0, time.Time{}
		for _, id := range ids {
			at, ok := w.at[id]
			if !ok {
				missing++
			} else if at.After(last) {
				last = at
			}
		}
		w.mu.Unlock()
		if missing == 0 {
			return last
		}
		select {
		case <-w.ch:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			tb.Fatalf("%d of %d contexts never reported down at the root", missing, len(ids))
		}
	}
}

// waitGone waits until none of pids runs any more (killing what is left
// when ctx ends, and failing).
func waitGone(ctx context.Context, tb testing.TB, pids []int) {
	tb.Helper()
	for _, p := range pids {
		for alive(p) {
			if ctx.Err() != nil {
				for _, q := range pids {
					_ = syscall.Kill(q, syscall.SIGKILL)
				}
				tb.Fatalf("process %d outlived its killed intermediate (an orphan)", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestVia_FanOut200: 204 contexts in one tree (4 intermediates x 50
// children, each child started through its intermediate) are all reached
// from the root by a call; killing an intermediate raises IS_DEAD at the
// root for it and all 50 behind it, each handle is dead, their processes
// exit (no orphans, checked in /proc), and the rest of the tree still
// answers.
func TestVia_FanOut200(t *testing.T) {
	const mids, per = 4, 50
	root := fanRoot(t)
	ctx := testCtx(t, 3*time.Minute)
	start := time.Now()
	tr := buildFanTree(ctx, t, root, fanOpts{mids: mids, per: per, starts: 4})
	pids := pidsOf(ctx, t, root, tr.ids())
	t.Logf("%d contexts started and reached in %v", len(pids), time.Since(start).Round(time.Millisecond))
	if len(pids) != mids*(per+1) {
		t.Fatalf("%d contexts answered, want %d", len(pids), mids*(per+1))
	}

	downs := watchDowns(t, root)
	victim := tr.mids[1]
	behind := []uint32{victim.ID()}
	var gone []int
	gone = append(gone, pids[victim.ID()])
	for _, c := range tr.kids[1] {
		behind = append(behind, c.ID())
		gone = append(gone, pids[c.ID()])
	}
	killed := time.Now()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	last := downs.waitAll(ctx, t, behind)
	t.Logf("IS_DEAD at the root for %d contexts, the last %v after the kill", len(behind), last.Sub(killed).Round(time.Microsecond))
	for _, c := range tr.kids[1] {
		select {
		case <-c.Dead():
		case <-ctx.Done():
			t.Fatalf("%s: handle not dead", c.Name())
		}
		if !errors.Is(c.DeadReason(), actors.ErrContextDead) {
			t.Fatalf("%s: dead reason %v", c.Name(), c.DeadReason())
		}
	}
	waitGone(ctx, t, gone)

	var rest []uint32
	for i, m := range tr.mids {
		if i == 1 {
			continue
		}
		rest = append(rest, m.ID())
		for _, c := range tr.kids[i] {
			rest = append(rest, c.ID())
		}
	}
	pidsOf(ctx, t, root, rest)
	downs.mu.Lock()
	extra := len(downs.seen) - len(behind)
	downs.mu.Unlock()
	if extra != 0 {
		t.Fatalf("%d contexts outside the killed subtree reported down", extra)
	}
	t.Logf("whole test body %v", time.Since(start).Round(time.Millisecond))
}
