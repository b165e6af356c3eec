package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
)

func TestMain(m *testing.M) {
	spawn.Main(setup) // the context on each "host" is this test binary
	os.Exit(m.Run())
}

// fleet is a test sshd on loopback and an ssh config naming it web-1 and
// web-2 (and web-3), and down-1 for a port that refuses connections.
func fleet(t testing.TB) (config string) {
	t.Helper()
	cache := filepath.Join(t.TempDir(), "xdg")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.Config{Env: []string{"XDG_CACHE_HOME=" + cache, "SHLVL=1"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	common := fmt.Sprintf("  HostName 127.0.0.1\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n",
		srv.User, srv.UserKey, srv.KnownHosts)
	text := fmt.Sprintf("Host web-1 web-2 web-3\n  Port %d\n%sHost down-1\n  Port %d\n%s", srv.Port, common, refused, common)
	config = filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

func rows(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			m[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return m
}

// The command runs on the hosts that are up; the host that refuses
// connections gets a row saying so, and does not hold the others up.
func TestFleet(t *testing.T) {
	config := fleet(t)
	var out bytes.Buffer
	err := run(testCtx(t, 2*time.Minute), []string{"-F", config, "-c", "echo hello from $(hostname)",
		"web-1", "down-1", "web-2"}, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	r := rows(out.String())
	for _, h := range []string{"web-1", "web-2"} {
		if !strings.HasPrefix(r[h], "hello from "+host+" ") {
			t.Errorf("row of %s: %q", h, r[h])
		}
	}
	if !strings.HasPrefix(r["down-1"], "down: start failed: ") || !strings.Contains(r["down-1"], "refused") {
		t.Errorf("row of down-1: %q", r["down-1"])
	}
}

// A host that goes down while its command runs gets a failed row; the
// other host's command completes: over SSH, and with local hosts.
func TestFleet_HostGoesDown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
	}{{"ssh", []string{"web-1", "web-2"}}, {"local", []string{"local:a", "local:b"}}} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.name == "ssh" {
				args = []string{"-F", fleet(t)}
			}
			hostGoesDown(t, args, tc.hosts)
		})
	}
}

func hostGoesDown(t *testing.T, args, hosts []string) {
	const marker = "3.217" // sleep 3.217: a command line no other process has
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(testCtx(t, 2*time.Minute), append(append(args, "-c", "sleep "+marker+"; echo slept"), hosts...), &out)
	}()
	sleeps := waitProcs(t, "sleep "+marker, 2)
	// Kill the context process of one host: the parent of the sh that
	// runs the sleep.
	victim := ppid(t, ppid(t, sleeps[0]))
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Logf("output:\n%s", out.String())
	r := rows(out.String())
	failed, slept := 0, 0
	for _, h := range hosts {
		switch {
		case strings.HasPrefix(r[h], "failed: ") && strings.Contains(r[h], "dead"):
			failed++
		case strings.HasPrefix(r[h], "slept "):
			slept++
		}
	}
	if failed != 1 || slept != 1 {
		t.Fatalf("want one failed row and one that slept:\n%s", out.String())
	}
	waitGone(t, "sleep "+marker) // the killed host's sleep ends too; the next case counts afresh
}

// Ctrl-C (the ctx of run cancelled) while the commands run: run returns,
// and no process of the commands is left on the hosts.
func TestFleet_InterruptLeavesNoRemoteProcess(t *testing.T) {
	config := fleet(t)
	const marker = "612.345"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-F", config, "-c", "sleep " + marker, "web-1", "web-2"}, &out)
	}()
	waitProcs(t, "sleep "+marker, 2)
	cancel() // what signal.NotifyContext does on Ctrl-C
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run after Ctrl-C: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return after Ctrl-C")
	}
	t.Logf("output:\n%s", out.String())
	deadline := time.Now().Add(20 * time.Second)
	for len(procs("sleep "+marker)) > 0 || len(procs("sh -c sleep "+marker)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("remote processes left after Ctrl-C: %v", procs("sleep "+marker))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// procs returns the PIDs of the processes whose command line is cmdline.
func procs(cmdline string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")) == cmdline {
			out = append(out, pid)
		}
	}
	return out
}

// waitGone waits until no process has this command line.
func waitGone(t *testing.T, cmdline string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(procs(cmdline)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes %q still running after 60s", cmdline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitProcs waits for n processes with this command line.
func waitProcs(t *testing.T, cmdline string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if ps := procs(cmdline); len(ps) >= n {
			return ps
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d processes %q after 90s", n, cmdline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid ...
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	p, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BenchmarkFleet runs the whole example against three hosts (the loopback
// sshd, binary cached after the first run): node, three SSH contexts in
// parallel, the command, the table, the stop. Compare the fleet
// runner: 178 ms warm for three hosts with one shared sequential
// supervisor, 99 ms with one supervisor per host.
func BenchmarkFleet(b *testing.B) {
	config := fleet(b)
	args := []string{"-F", config, "-c", "true", "web-1", "web-2", "web-3"}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil { // upload, untimed
		b.Fatalf("%v\n%s", err, out.String())
	}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reset()
		start := time.Now()
		if err := run(context.Background(), args, &out); err != nil {
			b.Fatalf("%v\n%s", err, out.String())
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(0, "ns/op")
}

// syncBuffer is a bytes.Buffer for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// -debug serves the live view while the fleet runs and, after the
// table, until Ctrl-C: its /tree.json shows every host's context,
// started by method "local".
func TestFleet_DebugView(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t, 2*time.Minute))
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-debug", "127.0.0.1:0", "-c", "true", "local:a", "local:b"}, &out) }()
	var url string
	for url == "" || !strings.Contains(out.String(), "Ctrl-C ends") {
		select {
		case err := <-done:
			t.Fatalf("run ended: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if _, rest, ok := strings.Cut(out.String(), "live view: "); ok {
			url, _, _ = strings.Cut(rest, "\n")
		}
	}
	resp, err := http.Get(url + "tree.json")
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Contexts []struct{ Name, Method, State string }
	}
	err = json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range snap.Contexts {
		got[c.Name] = c.Method + " " + c.State
	}
	if got["local:a"] != "local up" || got["local:b"] != "local up" {
		t.Fatalf("tree.json: %+v\n%s", snap, out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after Ctrl-C: %v", err)
	}
}
