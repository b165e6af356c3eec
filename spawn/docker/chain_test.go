package docker_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/docker"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// uidGid is u for docker exec -u: numeric, because docker looks users up
// in the image's /etc/passwd, not in the /etc mounted over it.
func uidGid(u sudotest.User) string {
	return strconv.FormatUint(uint64(u.UID), 10) + ":" + strconv.FormatUint(uint64(u.GID), 10)
}

// TestChain_SudoInsideContainer wraps a docker Target in sudo: the
// container (busybox) gets this machine's /usr, /lib and /etc read-only,
// hence its sudo, sudoers, users and passwords. As root, sudo to nobody
// needs no password; as the test user A (docker exec -u), sudo to root
// takes A's password, sent once through the stream; a wrong one is
// sudo.ErrBadPassword. The binary travels through both wrappers on the
// same stream.
func TestChain_SudoInsideContainer(t *testing.T) {
	e := containertest.Docker(t)
	users := sudotest.Setup(t)
	var mounts []string
	for _, m := range []string{"/usr", "/lib", "/lib64", "/etc"} {
		mounts = append(mounts, "-v", m+":"+m+":ro")
	}
	c := e.Run(t, e.BusyboxImage(t), containertest.RunOptions{Hostname: "sudo-box", Args: mounts})
	root := newRoot(t, nil)
	for _, tc := range []struct {
		name     string
		execUser string
		to       string
		password string
		uid      int
		wantErr  error
	}{
		{"root-to-nobody", "", "nobody", "", 65534, nil},
		{"a-to-root-with-password", uidGid(users.A), "root", users.A.Password, 0, nil},
		{"a-wrong-password", uidGid(users.A), "root", "not-" + users.A.Password, 0, sudo.ErrBadPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts(t, e, tc.name, docker.TargetOptions{Container: c.Name, User: tc.execUser})
			inner, err := docker.NewTarget(o.TargetOptions)
			if err != nil {
				t.Fatal(err)
			}
			so := sudo.Options{User: tc.to}
			if tc.password != "" {
				so.Auth.Password = sudo.StaticPassword(tc.password)
			}
			st, err := sudo.Sudo(inner, so)
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctxFor(t, 90*time.Second)
			p, err := spawn.Start(ctx, root, st, o.Common, o.Bootstrap)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("start: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(ctx)
			pong, err := actors.Request[*Pong](ctx, root, echoIn(t, p), &Ping{})
			if err != nil {
				t.Fatal(err)
			}
			if pong.UID != tc.uid || pong.Hostname != "sudo-box" {
				t.Errorf("pong %+v, want uid %d in sudo-box", pong, tc.uid)
			}
			if err := p.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			t.Logf("uid %s in %s through %s", strconv.Itoa(pong.UID), pong.Hostname, p.Info().Method)
		})
	}
}
