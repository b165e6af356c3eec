package ssh_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// Messages and kinds shared by the test process and its SSH contexts.
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
	LogHello struct{ Text string }
	Count    struct{ N int } // one-way messages for throughput
	Counted  struct{ N int }
	GetCount struct{}
)

func setup(n *actors.Node) error {
	for _, err := range []error{
		actors.RegisterType[Ping](n, "test.Ping"),
		actors.RegisterType[Pong](n, "test.Pong"),
		actors.RegisterType[LogHello](n, "test.LogHello"),
		actors.RegisterType[Count](n, "test.Count"),
		actors.RegisterType[Counted](n, "test.Counted"),
		actors.RegisterType[GetCount](n, "test.GetCount"),
	} {
		if err != nil {
			return err
		}
	}
	n.RegisterKind("echo", actor.PropsFromProducer(func() actor.Actor { return &echo{node: n} }))
	n.RegisterKind("counter", actor.PropsFromProducer(func() actor.Actor { return &counter{} }))
	return sshSetup(n) // kinds of the SSH suite (ssh_test.go)
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
	case *GetCount:
		c.Respond(&Counted{N: k.n})
	}
}

func TestMain(m *testing.M) {
	spawn.Main(setup)
	// Race-instrumented binaries sleep 1s at exit by default; children
	// should exit when told to.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
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

func sloggerOf(h capture) *slog.Logger { return slog.New(h) }

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

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// reportLatencies reports p50 and p99 of samples in microseconds.
func reportLatencies(b *testing.B, samples []time.Duration, unit string, scale time.Duration) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	p := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))]) / float64(scale)
	}
	b.ReportMetric(p(0.50), "p50-"+unit)
	b.ReportMetric(p(0.99), "p99-"+unit)
}
