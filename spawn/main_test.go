package spawn_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/msgptest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/wire"
)

// Messages and kinds shared by the test process and its child contexts.
type (
	Ping struct {
		N       int
		Payload []byte
		Delay   time.Duration
	}
	Pong struct {
		N       int
		Pid     int
		Context string
		Payload []byte
	}
	Garble        struct{} // the child writes garbage onto its own link
	SpoofTo       struct{ Dst uint32 }
	SpawnGrandkid struct{}
	Grandkid      struct {
		Address, ID, Err string
		Pid              int
	}
	LogHello struct{ Text string }
	Count    struct{ N int } // one-way messages for throughput
	Counted  struct{ N int }
	GetCount struct{}
	// NotRegistered is never registered anywhere.
	NotRegistered struct{ X int }
)

func setup(n *actors.Node) error {
	for _, err := range []error{
		actors.RegisterType[Ping](n, "test.Ping"),
		actors.RegisterType[Pong](n, "test.Pong"),
		actors.RegisterType[Garble](n, "test.Garble"),
		actors.RegisterType[SpoofTo](n, "test.SpoofTo"),
		actors.RegisterType[SpawnGrandkid](n, "test.SpawnGrandkid"),
		actors.RegisterType[Grandkid](n, "test.Grandkid"),
		actors.RegisterType[LogHello](n, "test.LogHello"),
		actors.RegisterType[Count](n, "test.Count"),
		actors.RegisterType[msgptest.Count](n, "test.CountGen"), // generated codecs
		actors.RegisterType[Counted](n, "test.Counted"),
		actors.RegisterType[GetCount](n, "test.GetCount"),
	} {
		if err != nil {
			return err
		}
	}
	n.RegisterKind("echo", actor.PropsFromProducer(func() actor.Actor { return &echo{node: n} }))
	n.RegisterKind("counter", actor.PropsFromProducer(func() actor.Actor { return &counter{} }))
	n.RegisterKind("saboteur", actor.PropsFromProducer(func() actor.Actor { return &saboteur{node: n} }))
	n.RegisterKind("spawner", actor.PropsFromProducer(func() actor.Actor { return &spawner{node: n} }))
	if err := fdpassSetup(n); err != nil { // kinds of fdpass_test.go
		return err
	}
	if err := fdBenchSetup(n); err != nil { // fdpass_bench_test.go
		return err
	}
	n.RegisterKind("http", httpWorker())    // handoff_bench_test.go
	forkerSetup(n)                          // cloexec_test.go
	if err := viaTestSetup(n); err != nil { // via_test.go
		return err
	}
	return viaPoolSetup(n) // via_pool_test.go
}

type echo struct{ node *actors.Node }

func (e *echo) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *Ping:
		pong := &Pong{N: m.N, Pid: os.Getpid(), Context: e.node.Name(), Payload: m.Payload}
		if m.Delay > 0 {
			sender, sys := c.Sender(), c.ActorSystem()
			time.AfterFunc(m.Delay, func() { sys.Root.Send(sender, pong) })
			return
		}
		c.Respond(pong)
	case *LogHello:
		e.node.Logger().Info("hello from child", "text", m.Text)
		fmt.Fprintln(os.Stderr, "raw stderr line:", m.Text)
		c.Respond(&Pong{Pid: os.Getpid()})
	}
}

type counter struct{ n int }

func (k *counter) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *Count:
		k.n++
	case *msgptest.Count:
		k.n++
	case *GetCount:
		c.Respond(&Counted{N: k.n})
	}
}

// linkFD is the descriptor a child writes its link frames to: fd 4 for
// pipes; for a socketpair, the only socket the child has (net.FileConn
// moved it off fd 3).
func linkFD() int {
	if os.Getenv("SPINDLE_LINK") != "sock:3" {
		return 4
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(target, "socket:") {
			fd, _ := strconv.Atoi(e.Name())
			return fd
		}
	}
	return -1
}

type saboteur struct{ node *actors.Node }

func (s *saboteur) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *Garble:
		_, _ = syscall.Write(linkFD(), []byte("this is not a spindle frame, not at all......"))
	case *SpoofTo:
		// A well-formed frame that claims to come from context 0 (the root)
		// although it comes up from this child.
		env := wire.AppendEnvelopeHead(nil, wire.Envelope{Target: "counter", Type: "test.Count"})
		body, _ := wire.Marshal(&Count{N: 1})
		frame := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Dst: m.Dst, Src: 0, Auth: 0}, nil, append(env, body...))
		_, _ = syscall.Write(linkFD(), frame)
		c.Respond(&Pong{})
	}
}

type spawner struct{ node *actors.Node }

func (s *spawner) Receive(c actor.Context) {
	if _, ok := c.Message().(*SpawnGrandkid); !ok {
		return
	}
	sender, sys := c.Sender(), c.ActorSystem()
	go func() { // never block in Receive
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gk, err := spawn.Local(ctx, s.node, spawn.Options{Common: spawn.Common{Name: "grandchild"}})
		if err != nil {
			sys.Root.Send(sender, &Grandkid{Err: err.Error()})
			return
		}
		pid, err := gk.Spawn(ctx, "echo", "echo")
		if err != nil {
			sys.Root.Send(sender, &Grandkid{Err: err.Error()})
			return
		}
		sys.Root.Send(sender, &Grandkid{Address: pid.Address, ID: pid.Id, Pid: gk.Pid()})
	}()
}

func TestMain(m *testing.M) {
	spawn.Main(setup)
	// Race-instrumented binaries sleep 1s at exit by default; children
	// should exit when told to.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	if os.Getenv("SPINDLE_TEST_ROLE") == "orphan-parent" {
		orphanParent()
		return
	}
	os.Exit(m.Run())
}

// orphanParent is a root that starts two children, prints their process
// IDs and waits to be killed. With SPINDLE_TEST_NO_PDEATHSIG=1 the children
// run without Pdeathsig, so only their link's EOF can make them exit.
func orphanParent() {
	node, err := actors.NewNode(actors.Config{Setup: setup, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	var pids []int
	for i := 0; i < 2; i++ {
		opts := spawn.Options{Common: spawn.Common{Name: fmt.Sprintf("orphan-%d", i)}}
		if os.Getenv("SPINDLE_TEST_NO_PDEATHSIG") == "1" {
			spawn.WithoutPdeathsig(&opts) // as on darwin and the BSDs
		}
		c, err := spawn.Local(context.Background(), node, opts)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		pids = append(pids, c.Pid())
	}
	fmt.Println("PIDS", pids[0], pids[1])
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
}

// capture is a slog.Handler that keeps records for assertions.
type capture struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

func newCapture() capture { return capture{mu: &sync.Mutex{}, recs: &[]slog.Record{}} }

func (c capture) Enabled(context.Context, slog.Level) bool { return true }
func (c capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	*c.recs = append(*c.recs, r.Clone())
	c.mu.Unlock()
	return nil
}
func (c capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c capture) WithGroup(string) slog.Handler      { return c }

// find returns the attrs of the first record with message msg.
func (c capture) find(msg string) (map[string]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range *c.recs {
		if r.Message != msg {
			continue
		}
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		return attrs, true
	}
	return nil, false
}

// newRoot starts a root node that is shut down when the test ends.
func newRoot(t testing.TB, logger *slog.Logger) *actors.Node {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
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

// startChild starts a local child with an echo actor named "echo".
func startChild(t testing.TB, node *actors.Node, name string, link spawn.LinkKind) (*spawn.Context, *actor.PID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second}, Link: link})
	if err != nil {
		t.Fatalf("spawn %s: %v", name, err)
	}
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatalf("spawn echo in %s: %v", name, err)
	}
	return c, pid
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type slogLogger = slog.Logger

func slogNew(h slog.Handler) *slog.Logger { return slog.New(h) }
