package spawn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn"
)

// envViaPool gives a test child its spindle.via pool ("RUNNING,QUEUED"),
// read by viaPoolSetup.
const envViaPool = "SPINDLE_TEST_VIA_POOL"

// test.block is a via method that starts nothing: each start holds one
// slot of the intermediate's pool until test.block.release (or its ctx
// ends), then fails. Its counters live in the intermediate's process.
type (
	BlockOpts  struct{}
	BlockState struct{ Running, Max, Entered int64 }
)

var block struct {
	running, max, entered atomic.Int64
	once                  sync.Once
	release               chan struct{}
}

func init() {
	block.release = make(chan struct{})
	spawn.RegisterViaMethod("test.block", func(ctx context.Context, _ *actors.Node, _ *BlockOpts) (spawn.Child, error) {
		block.entered.Add(1)
		r := block.running.Add(1)
		for m := block.max.Load(); r > m && !block.max.CompareAndSwap(m, r); m = block.max.Load() {
		}
		defer block.running.Add(-1)
		select {
		case <-block.release:
			return nil, errors.New("test.block released")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
}

// viaPoolSetup serves spindle.via with the pool envViaPool names (in a
// child context that has it), and the functions that read and release
// test.block.
func viaPoolSetup(n *actors.Node) error {
	if v := os.Getenv(envViaPool); v != "" && spawn.IsChild() {
		run, queued, _ := strings.Cut(v, ",")
		r, _ := strconv.Atoi(run)
		q, _ := strconv.Atoi(queued)
		if err := spawn.ServeVia(n, spawn.ViaConfig{MaxConcurrent: r, MaxQueued: q}); err != nil {
			return err
		}
	}
	ep := calls.Of(n)
	if err := pidSetup(n, ep); err != nil { // via_fanout_test.go
		return err
	}
	if err := calls.Handle(ep, "test.block.state", func(context.Context, *BlockOpts) (*BlockState, error) {
		return &BlockState{Running: block.running.Load(), Max: block.max.Load(), Entered: block.entered.Load()}, nil
	}); err != nil {
		return err
	}
	return calls.Handle(ep, "test.block.release", func(context.Context, *BlockOpts) (*BlockState, error) {
		block.once.Do(func() { close(block.release) })
		return &BlockState{}, nil
	})
}

// TestVia_PoolBound: an intermediate whose spindle.via pool is 2 running
// and 3 queued (spawn.ServeVia in its setup) gets 2+3+4 starts at once: 2
// run, 3 wait, and the other 4 fail at once with calls.ErrBusy; once the
// running ones end, the queued ones run, never more than 2 at a time.
func TestVia_PoolBound(t *testing.T) {
	const running, queued, extra = 2, 3, 4
	root := newRoot(t, nil)
	ctx := testCtx(t, time.Minute)
	a, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "pool", Grace: time.Second,
		Env: []string{fmt.Sprintf("%s=%d,%d", envViaPool, running, queued)}}})
	if err != nil {
		t.Fatal(err)
	}
	ep := calls.Of(root)
	state := func() *BlockState {
		t.Helper()
		s, err := calls.Call[BlockOpts, BlockState](ctx, ep, a.ID(), "test.block.state", &BlockOpts{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	errs := make(chan error, running+queued+extra)
	for range running + queued + extra {
		go func() {
			_, err := spawn.StartVia(ctx, root, a, "test.block", &BlockOpts{})
			errs <- err
		}()
	}
	for i := 0; i < extra; i++ {
		if err := <-errs; !errors.Is(err, calls.ErrBusy) {
			t.Fatalf("start beyond the pool: %v, want calls.ErrBusy", err)
		}
	}
	for s := state(); s.Running != running; s = state() {
		if ctx.Err() != nil {
			t.Fatalf("pool runs %d starts, want %d", s.Running, running)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-errs:
		t.Fatalf("a start within the pool ended early: %v", err)
	default:
	}
	if s := state(); s.Entered != running || s.Max != running {
		t.Fatalf("before release: %+v, want %d entered, at most %d at once", s, running, running)
	}
	if _, err := calls.Call[BlockOpts, BlockState](ctx, ep, a.ID(), "test.block.release", &BlockOpts{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < running+queued; i++ {
		err := <-errs
		if err == nil || errors.Is(err, calls.ErrBusy) || !strings.Contains(err.Error(), "released") {
			t.Fatalf("start within the pool: %v, want its method's own error", err)
		}
	}
	if s := state(); s.Entered != running+queued || s.Max != running {
		t.Fatalf("after release: %+v, want %d entered, at most %d at once", s, running+queued, running)
	}
}

// TestVia_ServeViaTwice: a context serves spindle.via once.
func TestVia_ServeViaTwice(t *testing.T) {
	n, err := actors.NewNode(actors.Config{Name: "twice", Setup: func(n *actors.Node) error {
		if err := spawn.ServeVia(n, spawn.ViaConfig{MaxConcurrent: 1}); err != nil {
			return err
		}
		if err := spawn.ServeVia(n, spawn.ViaConfig{}); !errors.Is(err, spawn.ErrViaServed) {
			return fmt.Errorf("second ServeVia: %v, want ErrViaServed", err)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.Shutdown(ctx)
}
