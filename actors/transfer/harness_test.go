package transfer_test

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/spawn"
)

const waitLong = 20 * time.Second

// transfers maps each node of this process to its Transfer (test code
// only: the library keeps no global state).
var transfers sync.Map

func tr(n *actors.Node) *transfer.Transfer {
	v, _ := transfers.Load(n)
	return v.(*transfer.Transfer)
}

// setup is the Setup of every test context: a Transfer with test handlers.
func setup(n *actors.Node) error {
	var cfg transfer.Config
	cfg.Window, _ = strconv.Atoi(os.Getenv("TRANSFER_TEST_WINDOW"))   // benchmarks
	cfg.FrameData, _ = strconv.Atoi(os.Getenv("TRANSFER_TEST_FRAME")) // benchmarks
	return setupWith(cfg)(n)
}

func setupWith(cfg transfer.Config) func(*actors.Node) error {
	return func(n *actors.Node) error {
		t, err := transfer.New(n, cfg)
		if err != nil {
			return err
		}
		transfers.Store(n, t)
		for name, h := range map[string]transfer.Handler{
			"echo": func(_ context.Context, s *transfer.Stream) error {
				_, err := io.Copy(s, s)
				return err
			},
			"count": func(_ context.Context, s *transfer.Stream) error { // reads all, answers the count
				n, err := io.Copy(io.Discard, s)
				if err != nil {
					return err
				}
				return binary.Write(s, binary.BigEndian, n)
			},
			"generate": func(_ context.Context, s *transfer.Stream) error { // writes the asked bytes
				var n int64
				if err := binary.Read(s, binary.BigEndian, &n); err != nil {
					return err
				}
				_, err := io.CopyN(s, pattern{}, n)
				return err
			},
			"hold": func(ctx context.Context, s *transfer.Stream) error { // never reads
				<-ctx.Done()
				return ctx.Err()
			},
			"heap": serveHeap,
		} {
			if err := t.Handle(name, h, transfer.Anyone); err != nil {
				return err
			}
		}
		// "private" has the default policy: ancestors only.
		return t.Handle("private", func(_ context.Context, s *transfer.Stream) error {
			_, err := s.Write([]byte("ok"))
			return err
		}, nil)
	}
}

func TestMain(m *testing.M) {
	spawn.Main(childSetup)
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"))
}

// childSetup is setup, plus a heap sampler in a child process.
func childSetup(n *actors.Node) error {
	if err := setup(n); err != nil {
		return err
	}
	if p := os.Getenv("TRANSFER_TEST_CPUPROFILE"); p != "" { // for profiling a child
		f, err := os.Create(p)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			n.OnShutdown(func(context.Context) error { pprof.StopCPUProfile(); return f.Close() })
		}
	}
	if os.Getenv("TRANSFER_TEST_NO_SAMPLER") == "" {
		go sampleHeap(n.Stopping())
	}
	return nil
}

// pattern is an endless reader of a fixed byte pattern.
type pattern struct{}

var patternBytes = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*7 + 3 + i>>8)
	}
	return b
}()

func (pattern) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		n += copy(p[n:], patternBytes)
	}
	return len(p), nil
}

// Heap high-water of this process, sampled.
var (
	heapMu   sync.Mutex
	heapHigh uint64
)

func heapNow() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func sampleHeap(stop <-chan struct{}) {
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			h := heapNow()
			heapMu.Lock()
			heapHigh = max(heapHigh, h)
			heapMu.Unlock()
		}
	}
}

func resetHeap() {
	runtime.GC()
	heapMu.Lock()
	heapHigh = heapNow()
	heapMu.Unlock()
}

func highHeap() uint64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	return heapHigh
}

// serveHeap: a byte 'r' resets the high-water mark, 'g' answers it.
func serveHeap(_ context.Context, s *transfer.Stream) error {
	var op [1]byte
	for {
		if _, err := io.ReadFull(s, op[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if op[0] == 'r' {
			resetHeap()
		}
		if err := binary.Write(s, binary.BigEndian, highHeap()); err != nil {
			return err
		}
	}
}

func newRoot(t testing.TB, cfg actors.Config) *actors.Node {
	t.Helper()
	if cfg.Setup == nil {
		cfg.Setup = setup
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
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

// child is an in-process child context over two os.Pipe pairs.
type child struct {
	node *actors.Node
	kill func() // closes the child's end of the link, as if it died
}

func attach(t testing.TB, parent *actors.Node, name string, cfg actors.Config) *child {
	t.Helper()
	if cfg.Setup == nil {
		cfg.Setup = setup
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
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

// pair is a root with one in-process child.
func pair(t testing.TB) (*actors.Node, *child) {
	t.Helper()
	root := newRoot(t, actors.Config{})
	return root, attach(t, root, "worker", actors.Config{})
}

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

// spawnChild starts this test binary as a real child context.
func spawnChild(t testing.TB, root *actors.Node, name string) *spawn.Context {
	t.Helper()
	c, err := spawn.Local(timeout(t), root, spawn.Options{Common: spawn.Common{Name: name}})
	if err != nil {
		t.Fatalf("spawn.Local: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}
