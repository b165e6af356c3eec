package supervision_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

// throughIntermediate starts a local context through the spec's
// intermediate (ContextSpec.Via).
func throughIntermediate(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
	via := supervision.Intermediate(ctx)
	if via == nil {
		return nil, fmt.Errorf("no intermediate for %s", name)
	}
	return spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second, Via: via}})
}

// eventLog keeps the supervisor's events in order (Config.OnEvent).
type eventLog struct {
	mu  sync.Mutex
	evs []string
}

func (l *eventLog) add(ev supervision.Event) {
	var s string
	switch ev := ev.(type) {
	case *supervision.ChildFailed:
		s = "failed " + ev.Child
	case *supervision.ChildRestarted:
		s = "restarted " + ev.Child
	default:
		return
	}
	l.mu.Lock()
	l.evs = append(l.evs, s)
	l.mu.Unlock()
}

func (l *eventLog) since(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.evs[i:]...)
}

// TestVia_IntermediateRestartsFirst: a supervisor holds an intermediate
// and two contexts behind it (one behind the other, ContextSpec.Via).
// Killing the last restarts it alone, through the same intermediate;
// killing the intermediate (three times: the deaths of the contexts
// behind it reach the supervisor in any order) restarts the intermediate
// first, then the contexts behind it, in order, each through the new
// incarnation before it, with one failure counted.
func TestVia_IntermediateRestartsFirst(t *testing.T) {
	root := newRoot(t, actors.Config{})
	var log eventLog
	s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "hops",
		Policy:  supervision.Policy{MaxRestarts: 20, Period: time.Minute},
		OnEvent: log.add,
		Children: []supervision.ContextSpec{
			{Name: "bastion", Start: local},
			{Name: "inner", Via: "bastion", Start: throughIntermediate},
			{Name: "app", Via: "inner", Start: throughIntermediate, Actors: []supervision.ActorSpec{{Kind: "worker", Name: "w"}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	infos := waitUp(t, s, 30*time.Second)
	checkChain(t, root, infos)

	mark := len(log.since(0))
	if err := infos[2].Context.Kill(); err != nil {
		t.Fatal(err)
	}
	next := waitRestarted(t, s, infos, "app")
	if next[1].ID != infos[1].ID || next[0].ID != infos[0].ID {
		t.Fatalf("the intermediates changed on app's restart: %+v", next)
	}
	if got := log.since(mark); strings.Join(got, ",") != "failed app,restarted app" {
		t.Fatalf("events %v", got)
	}
	checkChain(t, root, next)

	for round := 0; round < 3; round++ {
		infos = next
		mark = len(log.since(0))
		if err := infos[0].Context.Kill(); err != nil {
			t.Fatal(err)
		}
		next = waitRestarted(t, s, infos, "bastion", "inner", "app")
		if got := log.since(mark); strings.Join(got, ",") != "failed bastion,restarted bastion,restarted inner,restarted app" {
			t.Fatalf("round %d: events %v, want the bastion's failure alone, then the restarts in order", round, got)
		}
		checkChain(t, root, next)
	}
	if b, _ := s.Child("bastion"); b.Restarts != 3 {
		t.Fatalf("bastion restarts %d, want 3", b.Restarts)
	}
}

// waitRestarted waits until the named children have new incarnations and
// every child is up.
func waitRestarted(t *testing.T, s *supervision.Supervisor, old []supervision.ChildInfo, names ...string) []supervision.ChildInfo {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		infos := waitUp(t, s, 30*time.Second)
		done := true
		for i, ci := range infos {
			for _, n := range names {
				if ci.Name == n && ci.Incarnation == old[i].Incarnation {
					done = false
				}
			}
		}
		if done {
			return infos
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v not restarted: %+v", names, infos)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkChain checks that each context runs as the child process of the
// one before it and was started by it, and that app's worker answers.
func checkChain(t *testing.T, root *actors.Node, infos []supervision.ChildInfo) {
	t.Helper()
	for i := 1; i < len(infos); i++ {
		c, via := infos[i].Context, infos[i-1].Context
		if c.Info().Via != via.ID() {
			t.Fatalf("%s started by ctx-%d, want %s ctx-%d", c.Name(), c.Info().Via, via.Name(), via.ID())
		}
		if pp := parentPid(c.Info().Pid); pp != via.Info().Pid {
			t.Fatalf("%s (pid %d) runs under %d, want %s's %d", c.Name(), c.Info().Pid, pp, via.Name(), via.Info().Pid)
		}
	}
	ctx := testCtx(t, 10*time.Second)
	if r, err := actors.Request[*Result](ctx, root, infos[2].PIDs["w"], &Job{N: 4}); err != nil || r.N != 8 {
		t.Fatalf("app's worker: %+v, %v", r, err)
	}
}

func parentPid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}
