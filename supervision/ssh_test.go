package supervision_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/supervision"
)

// A Transient SSH context that exits with status 0 is not restarted: the
// supervisor reads the remote exit status through spawn.ExitStatus. Before,
// only a local *spawn.ExitError counted as a clean exit, so a clean SSH
// exit was restarted as a failure (review of issue 11).
func TestSupervisor_TransientSSHCleanExitNotRestarted(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "xdg")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.Config{Env: []string{"XDG_CACHE_HOME=" + cache, "SHLVL=1"}})
	var env []string
	if v := os.Getenv("GORACE"); v != "" {
		env = append(env, "GORACE="+v)
	}
	start := func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
		opts := ssh.Options{Host: srv.User + "@" + srv.Addr, ConfigFile: "none", Agent: "none",
			IdentityFiles: []string{srv.UserKey}, KnownHostsFiles: []string{srv.KnownHosts}}
		opts.Name, opts.Grace, opts.Env = name, time.Second, env
		return ssh.Start(ctx, node, opts)
	}
	root := newRoot(t, actors.Config{})
	evs := events(t, root)
	s, err := supervision.Start(t.Context(), root, supervision.Config{Children: []supervision.ContextSpec{
		{Name: "remote", Restart: supervision.Transient, Start: start, Actors: []supervision.ActorSpec{{Kind: "worker", Name: "w"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(testCtx(t, 30*time.Second))
	infos := waitUp(t, s, 60*time.Second)
	// The context ends by itself with status 0 (its parent asks it to).
	if err := root.RequestShutdown(infos[0].ID); err != nil {
		t.Fatal(err)
	}
	ev := next[*supervision.ChildFailed](t, evs, 30*time.Second)
	var exit *spawn.RemoteExitError
	if !errors.As(ev.Reason, &exit) || exit.Status != 0 || exit.Signal != "" {
		t.Fatalf("death reason %v (%T), want a remote exit with status 0", ev.Reason, ev.Reason)
	}
	if ev.Restart {
		t.Fatalf("a Transient SSH context that exited 0 is restarted: %+v", ev)
	}
}

// BenchmarkStartNSSH is BenchmarkStartN over SSH to the test sshd on
// loopback (the binary cached on the "host" after the first start):
// dial, authentication, bootstrap and handshake per child.
func BenchmarkStartNSSH(b *testing.B) {
	cache := filepath.Join(b.TempDir(), "xdg")
	if err := os.Mkdir(cache, 0o700); err != nil {
		b.Fatal(err)
	}
	srv := sshtest.Start(b, sshtest.Config{Env: []string{"XDG_CACHE_HOME=" + cache, "SHLVL=1"}})
	start := func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
		opts := ssh.Options{Host: srv.User + "@" + srv.Addr, ConfigFile: "none", Agent: "none",
			IdentityFiles: []string{srv.UserKey}, KnownHostsFiles: []string{srv.KnownHosts}}
		opts.Name, opts.Grace = name, time.Second
		return ssh.Start(ctx, node, opts)
	}
	for _, n := range []int{4, 8} {
		for _, seq := range []bool{true, false} {
			mode := "parallel"
			if seq {
				mode = "sequential"
			}
			b.Run(fmt.Sprintf("n=%d/%s", n, mode), func(b *testing.B) {
				root := newRoot(b, actors.Config{})
				children := workers(n, supervision.Permanent)
				for i := range children {
					children[i].Start = start
				}
				samples := make([]time.Duration, 0, b.N)
				for i := 0; i < b.N; i++ {
					begin := time.Now()
					s, err := supervision.Start(b.Context(), root, supervision.Config{Children: children,
						Policy: supervision.Policy{Sequential: seq}})
					if err != nil {
						b.Fatal(err)
					}
					if err := s.WaitUp(testCtx(b, 2*time.Minute)); err != nil {
						b.Fatal(err)
					}
					samples = append(samples, time.Since(begin))
					b.StopTimer()
					if err := s.Stop(testCtx(b, time.Minute)); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				reportLatencies(b, samples)
			})
		}
	}
}
