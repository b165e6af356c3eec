package docker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
)

// Messages and kinds shared by the test process and its contexts in
// containers (which run the static build of this test binary).
type (
	Ping struct {
		N     int
		Delay time.Duration
	}
	Pong struct {
		N        int
		Pid, UID int
		Hostname string
		Cgroup   string
	}
	LogHello struct{ Text string }
	Exit     struct{ Code int } // the context exits at once with Code
)

func setup(n *actors.Node) error {
	for _, err := range []error{
		actors.RegisterType[Ping](n, "dockertest.Ping"),
		actors.RegisterType[Pong](n, "dockertest.Pong"),
		actors.RegisterType[LogHello](n, "dockertest.LogHello"),
		actors.RegisterType[Exit](n, "dockertest.Exit"),
	} {
		if err != nil {
			return err
		}
	}
	n.RegisterKind("echo", actor.PropsFromProducer(func() actor.Actor { return &echo{node: n} }))
	return nil
}

type echo struct{ node *actors.Node }

func (e *echo) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *Ping:
		host, _ := os.Hostname()
		cg, _ := os.ReadFile("/proc/self/cgroup")
		pong := &Pong{N: m.N, Pid: os.Getpid(), UID: os.Getuid(), Hostname: host, Cgroup: firstLine(string(cg))}
		if m.Delay > 0 {
			sender, sys := c.Sender(), c.ActorSystem()
			time.AfterFunc(m.Delay, func() { sys.Root.Send(sender, pong) })
			return
		}
		c.Respond(pong)
	case *LogHello:
		e.node.Logger().Info("hello from the container", "text", m.Text)
		fmt.Fprintln(os.Stderr, "raw stderr line:", m.Text)
		c.Respond(&Pong{Pid: os.Getpid()})
	case *Exit:
		os.Exit(m.Code)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestMain(m *testing.M) {
	spawn.Main(setup)
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	if os.Getenv(envRole) == "parent" {
		os.Exit(parentRole())
	}
	os.Exit(m.Run())
}

// envRole makes this test binary a root that starts two container
// contexts, says so and waits to be killed (TestStart_ParentKilled...).
const envRole = "SPINDLE_DOCKER_TEST_ROLE"

func parentRole() int {
	node, err := actors.NewNode(actors.Config{Name: "parent", Setup: setup, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	bin := spawn.NewBinary(os.Getenv("SPINDLE_TEST_BINARY"), "linux/amd64")
	cli := os.Getenv("SPINDLE_TEST_CLI")
	for _, to := range []docker.TargetOptions{
		{CLI: cli, Container: os.Getenv("SPINDLE_TEST_CONTAINER")},
		{CLI: cli, Image: os.Getenv("SPINDLE_TEST_IMAGE"), ContainerName: os.Getenv("SPINDLE_TEST_FRESH")},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := docker.Start(ctx, node, docker.Options{Bootstrap: spawn.Bootstrap{Binaries: []*spawn.Binary{bin}}, TargetOptions: to})
		cancel()
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
	}
	fmt.Println("UP")
	select {}
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

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// newRoot starts a root node that is shut down when the test ends.
func newRoot(t testing.TB, h slog.Handler) *actors.Node {
	t.Helper()
	if h == nil {
		h = slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})
	}
	n, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

var (
	binOnce sync.Once
	bin     *spawn.Binary
)

// staticBinary is the static build of this test binary, as the binary for
// linux/amd64 (see internal/containertest): the -race test binary itself
// is linked against glibc, which the busybox image does not have.
func staticBinary(t testing.TB) *spawn.Binary {
	path := containertest.StaticTestBinary(t)
	binOnce.Do(func() { bin = spawn.NewBinary(path, "linux/amd64") })
	return bin
}

// opts are the options of a context in a container of e, with the static
// binary on offer.
func opts(t testing.TB, e *containertest.Engine, name string, to docker.TargetOptions) docker.Options {
	to.CLI = e.Path
	if to.Image != "" {
		to.RunArgs = append(e.RunDefaults(), to.RunArgs...)
	}
	return docker.Options{
		Common:        spawn.Common{Name: name, Grace: time.Second},
		Bootstrap:     spawn.Bootstrap{Binaries: []*spawn.Binary{staticBinary(t)}, Timeout: 60 * time.Second},
		TargetOptions: to,
	}
}

// start starts a context and shuts it down when the test ends.
func start(t testing.TB, root *actors.Node, o docker.Options) *spawn.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := docker.Start(ctx, root, o)
	if err != nil {
		t.Fatalf("docker.Start(%s): %v", o.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

func echoIn(t testing.TB, c spawn.Child) *actor.PID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatalf("spawn echo in %s: %v", c.Name(), err)
	}
	return pid
}

// watch returns a channel that receives the Terminated of pid.
func watch(t testing.TB, root *actors.Node, pid *actor.PID) <-chan *actor.Terminated {
	ch := make(chan *actor.Terminated, 1)
	ready := make(chan struct{})
	root.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Watch(pid)
			close(ready)
		case *actor.Terminated:
			ch <- m
		}
	}))
	<-ready
	return ch
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
