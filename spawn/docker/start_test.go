package docker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn/docker"
)

// TestStart_Parity: in a running container (as root and as another user)
// and in a fresh one, for docker and podman: requests, a watch, log and
// stderr forwarding, graceful shutdown with exit status 0, nothing left
// running.
func TestStart_Parity(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := eng.get(t)
			img := e.BusyboxImage(t)
			c := e.Run(t, img, containertest.RunOptions{Hostname: "box-" + eng.name})
			for _, tc := range []struct {
				name string
				to   docker.TargetOptions
				host string
				uid  int
			}{
				{"exec", docker.TargetOptions{Container: c.Name}, "box-" + eng.name, 0},
				{"exec-user", docker.TargetOptions{Container: c.Name, User: "1000"}, "box-" + eng.name, containertest.TestUID},
				{"run", docker.TargetOptions{Image: img, RunArgs: []string{"--hostname", "fresh-" + eng.name}}, "fresh-" + eng.name, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					capt := newCapture()
					root := newRoot(t, capt)
					p := start(t, root, opts(t, e, tc.name, tc.to))
					pid := echoIn(t, p)
					ctx := ctxFor(t, 60*time.Second)
					for i := 0; i < 50; i++ {
						pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i})
						if err != nil {
							t.Fatal(err)
						}
						if pong.N != i || pong.Hostname != tc.host || pong.UID != tc.uid || pong.Pid != p.Info().Pid {
							t.Fatalf("pong %+v, want host %s uid %d pid %d", pong, tc.host, tc.uid, p.Info().Pid)
						}
					}
					if info := p.Info(); info.Method != eng.name || info.Boot.Platform != "linux/amd64" {
						t.Errorf("info %+v", info)
					}
					if _, err := actors.Request[*Pong](ctx, root, pid, &LogHello{Text: "from " + tc.name}); err != nil {
						t.Fatal(err)
					}
					waitFor(t, 5*time.Second, "forwarded log and stderr lines", func() bool {
						la, ok1 := capt.find("hello from the container")
						ea, ok2 := capt.find("child stderr")
						return ok1 && ok2 && la["text"] == "from "+tc.name && strings.Contains(ea["line"], "raw stderr line: from "+tc.name)
					})
					watched := watch(t, root, pid)
					if err := p.Shutdown(ctx); err != nil {
						t.Fatalf("Shutdown: %v", err)
					}
					if err := p.Wait(ctx); err != nil {
						t.Fatalf("Wait after Shutdown: %v, want exit status 0", err)
					}
					select {
					case <-watched:
					case <-time.After(5 * time.Second):
						t.Fatal("no Terminated after Shutdown")
					}
					nothingLeft(t, e, c, tc.to, p.Info().Host)
				})
			}
		})
	}
}

// nothingLeft checks that no CLI process mentions the container and that
// a fresh container is gone, or that no Spindle process is left in a
// running one.
func nothingLeft(t *testing.T, e *containertest.Engine, c *containertest.Container, to docker.TargetOptions, host string) {
	t.Helper()
	waitFor(t, 10*time.Second, "the end of every CLI process of "+host, func() bool {
		return len(containertest.CLIProcesses(host)) == 0
	})
	if to.Image != "" {
		waitFor(t, 10*time.Second, "removal of "+host, func() bool { return e.Container(host).State() == "" })
		return
	}
	if c.State() == "running" {
		if ps := c.Exec(t, "sh", "-c", "grep -l SPINDLE_CHILD=1 /proc/[0-9]*/environ 2>/dev/null || true"); ps != "" {
			t.Errorf("Spindle processes left in %s: %s", host, ps)
		}
	}
}
