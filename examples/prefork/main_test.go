package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/fdcount"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

// Generous bounds: the machine may be busy. Nothing here measures speed.
const waitLong = 30 * time.Second

// kindExitOnConn is a broken worker: its process exits with status 3 as
// soon as it is handed a connection, before it can answer Handed.
const kindExitOnConn = "http-exit-on-conn"

// testSetup is the workers' setup plus the broken kind.
func testSetup(n *actors.Node) error {
	if err := setup(n); err != nil {
		return err
	}
	n.RegisterKind(kindExitOnConn, actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*actors.Conn); ok {
			os.Exit(3)
		}
	}))
	return nil
}

func TestMain(m *testing.M) {
	spawn.Main(testSetup) // the workers are this test binary, re-executed
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0") // workers built with -race exit at once
	}
	goleak.VerifyTestMain(m, leakIgnores()...)
}

// leakIgnores lists protoactor's dead-letter throttle, a goroutine that
// lives on for about a second after a dead letter and that nothing stops.
// Its name depends on inlining.
func leakIgnores() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottleWithLogger.func1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"),
	}
}

// TestPreforkExample runs the example end to end.
func TestPreforkExample(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("example failed: %v\n%s", err, out.String())
	}
	t.Logf("output:\n%s", out.String())
	for _, want := range []string{
		"SIGKILL worker-2",
		"supervisor: worker-2 (ctx ", // IDs follow the (parallel) start order
		"killed by signal SIGKILL",
		"worker-2 restarted as ctx",
		"worker-2 is back",
		"clean shutdown",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	pids := map[string]bool{}
	for _, m := range regexp.MustCompile(`worker-\d+/pid (\d+) x\d+`).FindAllStringSubmatch(out.String(), -1) {
		pids[m[1]] = true
	}
	// Three workers, one of them restarted: four processes served.
	if len(pids) < 4 {
		t.Errorf("responses came from %d distinct pids, want 4:\n%s", len(pids), out.String())
	}
	// run fails on a failed request; check that the output says so too.
	for _, m := range regexp.MustCompile(`(\d+) requests, (\d+) ok`).FindAllStringSubmatch(out.String(), -1) {
		if m[1] != m[2] {
			t.Errorf("%s", m[0])
		}
	}
}

// TestPrefork_KilledWorkerLosesNoConnection SIGKILLs a worker and fires
// 50 concurrent requests at once, each on a fresh connection: some are
// handed to the dead worker before the supervisor has noticed, and the
// dispatcher must give those to another worker. Every request succeeds.
func TestPrefork_KilledWorkerLosesNoConnection(t *testing.T) {
	p := newTestPool(t, poolConfig{Workers: 3})
	cl := newClient(p.URL())
	defer cl.close()
	if err := waitUp(p.sup, waitLong); err != nil {
		t.Fatal(err)
	}
	victim, _ := p.sup.Child("worker-2")
	killed := pidOf(victim)
	before := p.disp.Stats()
	if err := victim.Context.Kill(); err != nil {
		t.Fatal(err)
	}
	rs := cl.many(50, 50)
	byPid := map[int]int{}
	for i, r := range rs {
		if r.err != nil {
			t.Errorf("request %d failed: %v", i, r.err)
			continue
		}
		byPid[r.pid]++
	}
	if byPid[killed] > 0 {
		t.Errorf("the killed worker (pid %d) served %d requests after SIGKILL", killed, byPid[killed])
	}
	if len(byPid) < 2 {
		t.Errorf("served by %d distinct pids (%v), want at least the 2 live workers", len(byPid), byPid)
	}
	// A worker serves a connection as soon as it has it, so the client may
	// be done before the dispatcher has counted the last Handed answer.
	deadline := time.Now().Add(waitLong)
	for p.disp.Stats().Handed-before.Handed < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := p.disp.Stats()
	t.Logf("served by pid: %v; killed pid %d; dispatcher: %d handed, %d retried during the burst",
		byPid, killed, st.Handed-before.Handed, st.Retried-before.Retried)
	if st.Handed-before.Handed != 50 {
		t.Errorf("dispatcher handed %d connections, want 50", st.Handed-before.Handed)
	}
}

// TestPrefork_WorkerDiesTakingAConnection: worker-1's process exits as it
// receives a connection, before it answers Handed. The parent still holds
// the connection and hands it to worker-2; the client never notices.
func TestPrefork_WorkerDiesTakingAConnection(t *testing.T) {
	p := newTestPool(t, poolConfig{
		Workers: 2,
		Kind: func(name string) string {
			if name == "worker-1" {
				return kindExitOnConn
			}
			return kindHTTP
		},
		// Each incarnation of worker-1 dies on its first connection.
		Policy: supervision.Policy{Strategy: supervision.OneForOne, MaxRestarts: 100, Period: 10 * time.Second},
	})
	failed := childFailures(t, p.node, "worker-1")
	cl := newClient(p.URL())
	defer cl.close()
	if err := waitUp(p.sup, waitLong); err != nil {
		t.Fatal(err)
	}
	good, _ := p.sup.Child("worker-2")
	// Round robin over two workers: one of the first two connections goes
	// to worker-1. Go on until the dispatcher has had to retry.
	for i := 0; p.disp.Stats().Retried == 0; i++ {
		if i == 10 {
			t.Fatalf("no connection reached worker-1 in 10 requests (stats %+v)", p.disp.Stats())
		}
		r := cl.get()
		if r.err != nil {
			t.Fatalf("request %d failed: %v", i, r.err)
		}
		if r.worker != "worker-2" || r.pid != pidOf(good) {
			t.Fatalf("request %d served by %s pid %d, want worker-2 pid %d", i, r.worker, r.pid, pidOf(good))
		}
	}
	select {
	case e := <-failed:
		if code, ok := spawn.ExitStatus(e.Reason); !ok || code != 3 {
			t.Errorf("worker-1 failed with %v, want exit status 3", e.Reason)
		}
		t.Logf("worker-1 (ctx %d) failed: %s; dispatcher %+v", e.ID, e.Reason, p.disp.Stats())
	case <-time.After(waitLong):
		t.Fatal("the supervisor did not report worker-1's death")
	}
}

// TestPrefork_ShutdownLeavesNothing runs the pool through a kill and a
// restart, closes it, and checks that no worker process, descriptor or
// goroutine is left in the parent.
func TestPrefork_ShutdownLeavesNothing(t *testing.T) {
	warmUpPoller(t)
	base := fdcount.Open(t)
	leaks := append([]goleak.Option{goleak.IgnoreCurrent()}, leakIgnores()...)
	logs := &syncBuffer{}
	p, err := startPool(poolConfig{Workers: 3, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	pids := exercise(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := p.close(ctx); err != nil {
		t.Fatalf("close: %v\nlogs:\n%s", err, logs.String())
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("worker pid %d still exists after shutdown (kill -0: %v)", pid, err)
		}
	}
	if kids, ok := childPids(); !ok {
		t.Log("no /proc/self/task/*/children here: relying on kill -0 alone")
	} else if len(kids) > 0 {
		t.Errorf("child processes left: %v", kids)
	}
	fdcount.Await(t, base, waitLong)
	goleak.VerifyNone(t, leaks...)
}

// exercise serves requests, kills worker-1, waits for its restart, serves
// again, and returns the pids of every worker incarnation.
func exercise(t *testing.T, p *pool) []int {
	t.Helper()
	cl := newClient(p.URL())
	defer cl.close()
	if err := waitUp(p.sup, waitLong); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, ci := range p.sup.Children() {
		pids = append(pids, pidOf(ci))
	}
	for _, r := range cl.many(12, 4) {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	victim, _ := p.sup.Child("worker-1")
	if err := victim.Context.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := waitRestarted(p.sup, "worker-1", victim.ID, waitLong); err != nil {
		t.Fatal(err)
	}
	now, _ := p.sup.Child("worker-1")
	pids = append(pids, pidOf(now))
	for _, r := range cl.many(12, 4) {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	return pids
}

// newTestPool starts a pool that the test closes; its logs are shown if
// the test fails.
func newTestPool(t *testing.T, cfg poolConfig) *pool {
	t.Helper()
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pool logs:\n%s", logs.String())
		}
	})
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := startPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := p.close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

// childFailures returns the ChildFailed events of the named worker.
func childFailures(t *testing.T, node *actors.Node, name string) <-chan *supervision.ChildFailed {
	ch := make(chan *supervision.ChildFailed, 100)
	sub := node.System().EventStream.Subscribe(func(ev any) {
		if e, ok := ev.(*supervision.ChildFailed); ok && e.Child == name {
			select {
			case ch <- e:
			default:
			}
		}
	})
	t.Cleanup(func() { node.System().EventStream.Unsubscribe(sub) })
	return ch
}

// warmUpPoller makes the runtime open the descriptors it keeps for good
// (the network poller's), so that they are in the baseline count.
func warmUpPoller(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
}

// childPids lists the child processes of this process, zombies included,
// from /proc/self/task/*/children; ok is false where the kernel has no
// such files.
func childPids() (pids []string, ok bool) {
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil || len(files) == 0 {
		return nil, false
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		pids = append(pids, strings.Fields(string(b))...)
	}
	return pids, true
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
