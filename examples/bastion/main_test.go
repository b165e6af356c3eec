package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/netnstest"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/sudo"
)

func TestMain(m *testing.M) {
	spawn.Main(setup) // every context of the chain is this test binary, re-executed
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// TestBastion runs the example end to end as it runs with no arguments:
// a chain on this machine.
func TestBastion(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, config{}); err != nil {
		t.Fatalf("bastion failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"app ", "started by ctx-", "chain: true",
		"inner: errors.Is(reason, actors.ErrContextDead) = true",
		"app: errors.Is(reason, actors.ErrContextDead) = true",
		"no process left",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}

// TestBastion_SSHNamespaces runs the example over SSH, as given hosts:
// root -> ssh bastion -> ssh inner as spindle-a (dialled by the bastion)
// -> sudo root (spindle-a's password, asked at the root) -> app, with the
// bastion and the inner host in network namespaces (internal/netnstest;
// the root cannot reach the inner host). After the kill of the bastion,
// nothing is left on the inner host.
func TestBastion_SSHNamespaces(t *testing.T) {
	users := sudotest.Setup(t)
	n := netnstest.New(t, netnstest.Config{})
	n.AssertIsolated(t)
	n.Inner.SSH.OpenToAllUsers(t)
	var env []string
	if v := os.Getenv("GORACE"); v != "" {
		env = append(env, "GORACE="+v)
	}
	cache := filepath.Join(os.TempDir(), sshtest.RandomName("spindle-bastion-test-", 12))
	t.Cleanup(func() {
		for _, hop := range []string{"bastion", "inner", "sudo"} {
			_ = os.RemoveAll(cache + "-" + hop)
		}
	})
	cfg := config{
		Bastion: n.Bastion.SSH.User + "@" + n.Bastion.SSH.Addr, Identity: n.Bastion.SSH.UserKey, KnownHosts: n.Bastion.SSH.KnownHosts,
		Inner: users.A.Name + "@" + n.Inner.SSH.Addr, InnerIdentity: n.Inner.SSH.UserKey, InnerKnownHosts: n.Inner.SSH.KnownHosts,
		Sudo: true, SudoPassword: sudo.StaticPassword(users.A.Password),
		SSHConfig: "none", Agent: "none", CachePrefix: cache, Env: env,
		HeartbeatInterval: 250 * time.Millisecond, HeartbeatTimeout: 2 * time.Second,
	}
	var out bytes.Buffer
	if err := run(&out, cfg); err != nil {
		t.Fatalf("bastion failed: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	for _, want := range []string{
		"via ssh", "root@inner", "via sudo", "app ", "chain: true",
		"inner: errors.Is(reason, actors.ErrContextDead) = true",
		"root@inner: errors.Is(reason, actors.ErrContextDead) = true",
		"app: errors.Is(reason, actors.ErrContextDead) = true",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := n.Inner.Pids(t)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left on the inner host after the bastion's kill:\n%s", netnstest.Describe(left))
		}
	}
}
