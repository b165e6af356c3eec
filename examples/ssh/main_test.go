package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/qemutest"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
)

func TestMain(m *testing.M) {
	spawn.Main(setup) // the worker on the "remote" host is this test binary
	os.Exit(m.Run())
}

// TestExample runs the example against a real sshd on 127.0.0.1, twice:
// the first run uploads the binary, the second finds it cached.
func TestExample(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "xdg")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.Config{Env: []string{"XDG_CACHE_HOME=" + cache, "SHLVL=1"}})
	args := []string{"-F", "none", "-i", srv.UserKey, "-known-hosts", srv.KnownHosts, "-n", "200", srv.User + "@" + srv.Addr}
	host, _ := os.Hostname()
	for i, want := range []string{"uploaded to " + cache, "cached in " + cache} {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := run(ctx, args, &out)
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out.String())
		}
		for _, w := range []string{"hostname   " + host, "platform   linux/", want, "round trip p50", "worker shut down"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("run %d: output lacks %q:\n%s", i, w, out.String())
			}
		}
		t.Logf("run %d:\n%s", i, out.String())
	}
}

func TestExample_UnknownHostHint(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Config{Env: []string{"SHLVL=1"}})
	empty := filepath.Join(t.TempDir(), "known_hosts")
	var out bytes.Buffer
	err := run(context.Background(), []string{"-F", "none", "-i", srv.UserKey, "-known-hosts", empty, srv.User + "@" + srv.Addr}, &out)
	if err == nil || !strings.Contains(err.Error(), "-accept-new") {
		t.Fatalf("error %v, want the unknown-host hint", err)
	}
}

// TestExample_BuildsForTheHostsPlatform: a host whose uname says aarch64
// gets this program built for linux/arm64 on demand (-build, the default)
// and runs it; here that host is this machine seen through a lying uname,
// and qemu-user (binfmt_misc) runs the arm64 binary. What a Mac user does
// for a Linux server.
func TestExample_BuildsForTheHostsPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("builds with the go command; not in -short")
	}
	qemutest.RequireArm64(t)
	fake := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "uname"), []byte("#!/bin/sh\necho Linux aarch64\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the build cache of this run
	srv := sshtest.Start(t, sshtest.Config{Env: []string{"PATH=" + fake + ":/usr/bin:/bin", "SHLVL=1",
		"XDG_CACHE_HOME=" + t.TempDir()}})
	args := []string{"-F", "none", "-i", srv.UserKey, "-known-hosts", srv.KnownHosts, "-n", "20", "-timeout", "3m", srv.User + "@" + srv.Addr}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, w := range []string{"platform   linux/arm64", "built for linux/arm64 on demand", "uploaded to", "worker shut down"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
