package main

import (
	"bytes"
	"context"
	"fmt"
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
		var out, status bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := run(ctx, args, &out, &status)
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out.String())
		}
		for _, w := range []string{"hostname   " + host, "platform   linux/", want, "round trip p50", "worker shut down"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("run %d: output lacks %q:\n%s", i, w, out.String())
			}
		}
		checkProgressLines(t, i == 0, status.String())
		t.Logf("run %d:\n%s%s", i, out.String(), status.String())
	}
}

// checkProgressLines: a cold start shows the upload in plain lines (stderr
// is not a terminal here), from 0.0 MB to the whole, at most 6 lines; a
// warm start shows none.
func checkProgressLines(t *testing.T, cold bool, status string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(status), "\n") {
		if strings.HasPrefix(l, "uploading spindle binary ") {
			lines = append(lines, l)
		}
	}
	if !cold {
		if len(lines) != 0 {
			t.Errorf("warm start shows progress:\n%s", status)
		}
		return
	}
	if len(lines) < 2 || len(lines) > 6 || strings.Contains(status, "\r") {
		t.Fatalf("cold start progress lines:\n%s\nwant 2 to 6 plain lines", status)
	}
	first, last := lines[0], lines[len(lines)-1]
	var done, total float64
	if _, err := fmt.Sscanf(last, "uploading spindle binary %f/%f MB", &done, &total); err != nil || done != total || total <= 0 {
		t.Errorf("last line %q (%v), want the whole upload", last, err)
	}
	if !strings.HasPrefix(first, "uploading spindle binary 0.0/") {
		t.Errorf("first line %q, want 0.0 done", first)
	}
}

func TestExample_UnknownHostHint(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Config{Env: []string{"SHLVL=1"}})
	empty := filepath.Join(t.TempDir(), "known_hosts")
	var out bytes.Buffer
	err := run(context.Background(), []string{"-F", "none", "-i", srv.UserKey, "-known-hosts", empty, srv.User + "@" + srv.Addr}, &out, &out)
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
	if err := run(ctx, args, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, w := range []string{"platform   linux/arm64", "built for linux/arm64 on demand", "uploaded to", "worker shut down"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
