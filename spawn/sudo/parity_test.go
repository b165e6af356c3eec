package sudo_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/sudo"
	"github.com/spindle-go/spindle/supervision"
)

// records is a slog.Handler that keeps every record, for tests.
type records struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

func newRecords() records { return records{mu: &sync.Mutex{}, recs: &[]slog.Record{}} }

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r records) WithGroup(string) slog.Handler            { return r }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.recs = append(*r.recs, rec.Clone())
	return nil
}

// attr returns attribute key of the first record with message msg whose
// key attribute contains want.
func (r records) has(msg, key, want string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range *r.recs {
		found := false
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == key && strings.Contains(a.Value.String(), want) {
				found = true
			}
			return !found
		})
		if rec.Message == msg && found {
			return true
		}
	}
	return false
}

func watchPID(t testing.TB, root *actors.Node, pid *actor.PID) <-chan struct{} {
	t.Helper()
	gone, ready := make(chan struct{}), make(chan struct{})
	root.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch c.Message().(type) {
		case *actor.Started:
			c.Watch(pid)
			close(ready)
		case *actor.Terminated:
			close(gone)
		}
	}))
	<-ready
	return gone
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

// spindleProcs lists the processes running a binary from dir (a test's
// own cache directory: other suites' children, in containers too, share
// the users and the /proc of this machine).
func spindleProcs(dir string) []string {
	var out []string
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, f := range exes {
		if exe, err := os.Readlink(f); err == nil && strings.HasPrefix(exe, dir+"/") {
			out = append(out, filepath.Dir(f))
		}
	}
	return out
}

// TestSpawn_Parity: under sudo, su and doas, a child context answers
// requests, forwards its logs and stderr, is watched, shuts down with exit
// status 0 and leaves no process behind.
func TestSpawn_Parity(t *testing.T) {
	u := sudotest.Setup(t)
	pw := func(p string) sudo.Auth { return sudo.Auth{Password: sudo.StaticPassword(p)} }
	for _, c := range []struct {
		name string
		tgt  func() (runner.Target, error)
		uid  uint32
	}{
		{"sudo", func() (runner.Target, error) {
			return sudo.Sudo(host(u.A), sudo.Options{User: u.B.Name, Auth: pw(u.A.Password)})
		}, u.B.UID},
		{"su", func() (runner.Target, error) {
			return sudo.Su(host(u.A), sudo.SuOptions{User: u.B.Name, Auth: pw(u.B.Password)})
		}, u.B.UID},
		{"doas", func() (runner.Target, error) {
			return sudo.Doas(host(u.A), sudo.DoasOptions{User: u.B.Name, Auth: pw(u.A.Password)})
		}, u.B.UID},
	} {
		t.Run(c.name, func(t *testing.T) {
			tgt, err := c.tgt()
			if err != nil {
				t.Fatal(err)
			}
			recs := newRecords()
			root := newRootLog(t, slog.New(recs))
			dir := cacheDir(t)
			p := start(t, root, tgt, dir)
			if len(spindleProcs(dir)) == 0 {
				t.Fatal("the child is not found by its binary's path: the check below would prove nothing")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pid, err := p.Spawn(ctx, "who", "who")
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				me, err := actors.Request[*Me](ctx, root, pid, &Who{Log: map[bool]string{true: "via " + c.name}[i == 0]})
				if err != nil || me.Uid != int(c.uid) || me.Pid != p.Info().Pid {
					t.Fatalf("request %d: %+v %v", i, me, err)
				}
			}
			eventually(t, 5*time.Second, "forwarded log and stderr lines", func() bool {
				return recs.has("hello from another user", "text", "via "+c.name) &&
					recs.has("child stderr", "line", "raw stderr line: via "+c.name)
			})
			gone := watchPID(t, root, pid)
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := p.Wait(ctx); err != nil {
				t.Fatalf("Wait: %v, want exit status 0", err)
			}
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("no Terminated after Shutdown")
			}
			eventually(t, 10*time.Second, "the end of every Spindle process of "+u.B.Name, func() bool {
				return len(spindleProcs(dir)) == 0
			})
		})
	}
}

// TestSpawn_SupervisedRestartAfterKilledSudo: a supervisor restarts a
// context under sudo whose sudo process was killed, as a new context with
// a new process whose actor answers.
func TestSpawn_SupervisedRestartAfterKilledSudo(t *testing.T) {
	u := sudotest.Setup(t)
	root := newRoot(t)
	dir := cacheDir(t)
	tgt := mustSudo(t, host(u.A), sudo.Options{User: u.B.Name, Auth: sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}})
	sup, err := supervision.Start(t.Context(), root, supervision.Config{
		Name:   "users",
		Policy: supervision.Policy{Strategy: supervision.OneForOne, MaxRestarts: 3, Period: time.Minute},
		Children: []supervision.ContextSpec{{
			Name: "as-b",
			Start: func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
				return spawn.Start(ctx, n, tgt, spawn.Common{Name: name, Grace: 5 * time.Second}, spawn.Bootstrap{CacheDirs: []string{dir}})
			},
			Actors:       []supervision.ActorSpec{{Kind: "who", Name: "who"}},
			StartTimeout: 60 * time.Second,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sup.Stop(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var first, second supervision.ChildInfo
	eventually(t, 60*time.Second, "the first incarnation", func() bool { first, _ = sup.Child("as-b"); return first.Up })
	me, err := actors.Request[*Me](ctx, root, first.PIDs["who"], &Who{})
	if err != nil || me.Uid != int(u.B.UID) {
		t.Fatalf("%+v %v", me, err)
	}
	if err := killPid(parentOf(t, me.Pid)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the restart", func() bool {
		second, _ = sup.Child("as-b")
		return second.Up && second.ID != first.ID
	})
	again, err := actors.Request[*Me](ctx, root, second.PIDs["who"], &Who{})
	if err != nil || again.Uid != int(u.B.UID) || again.Pid == me.Pid {
		t.Fatalf("after the restart: %+v %v (first pid %d)", again, err, me.Pid)
	}
}

func killPid(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
