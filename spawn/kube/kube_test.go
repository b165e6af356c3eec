package kube_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/kube"
	"github.com/spindle-go/spindle/spawn/runner"
)

type (
	Ping struct{ N int }
	Pong struct{ N, Pid int }
)

func setup(n *actors.Node) error {
	if err := actors.RegisterType[Ping](n, "test.Ping"); err != nil {
		return err
	}
	if err := actors.RegisterType[Pong](n, "test.Pong"); err != nil {
		return err
	}
	n.RegisterKind("echo", actorEcho())
	return nil
}

func TestMain(m *testing.M) {
	spawn.Main(setup)
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

func TestArgv(t *testing.T) {
	for _, tc := range []struct {
		opts kube.Options
		want []string
	}{
		{kube.Options{Pod: "web-0"}, []string{"kubectl", "exec", "-i", "web-0", "--"}},
		{kube.Options{Pod: "web-0", Container: "app", Namespace: "prod", Context: "eu-1", Kubeconfig: "/k/c", Kubectl: "/opt/kubectl"},
			[]string{"/opt/kubectl", "exec", "-i", "web-0", "-c", "app", "-n", "prod", "--context", "eu-1", "--kubeconfig", "/k/c", "--"}},
		{kube.Options{Pod: "db", Namespace: "data"}, []string{"kubectl", "exec", "-i", "db", "-n", "data", "--"}},
	} {
		got, err := kube.Argv(tc.opts)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Argv(%+v) = %q, %v; want %q", tc.opts, got, err, tc.want)
		}
	}
	for _, bad := range []kube.Options{{}, {Pod: "-it"}, {Pod: "p", Container: "--privileged"}} {
		if _, err := kube.Argv(bad); err == nil {
			t.Errorf("Argv(%+v) accepted", bad)
		}
	}
}

// standIn writes a kubectl that records its arguments and execs what
// follows "--", as kubectl exec would in the container.
func standIn(t *testing.T) (path, argsFile string) {
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	path = filepath.Join(dir, "kubectl")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" >" + argsFile + "\n" +
		"while [ $# -gt 0 ] && [ \"$1\" != -- ]; do shift; done\nshift\nexec \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, argsFile
}

func TestStart_ThroughAStandInKubectl(t *testing.T) {
	kubectl, argsFile := standIn(t)
	t.Setenv("PATH", filepath.Dir(kubectl)+":"+os.Getenv("PATH"))
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	defer func() { _ = root.Shutdown(ctx) }()
	c, err := kube.Start(ctx, root, kube.Options{Pod: "web-0", Container: "app", Namespace: "prod",
		Common:    spawn.Common{Grace: time.Second},
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(argsFile)
	if !strings.HasPrefix(string(args), "exec\n-i\nweb-0\n-c\napp\n-n\nprod\n--\n/bin/sh\n-c\n") {
		t.Fatalf("kubectl was called with %q", args)
	}
	info := c.Info()
	if c.Name() != "kube-web-0" || info.Method != "kubectl" || info.Host != "prod/web-0/app" {
		t.Fatalf("name %q, info %+v", c.Name(), info)
	}
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 5})
	if err != nil || pong.N != 5 || pong.Pid != info.Pid {
		t.Fatalf("pong %+v, %v", pong, err)
	}
	if err := c.Signal(ctx, runner.SIGTERM); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("signal through kubectl exec: %v, want ErrUnsupported", err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("exit: %v, want 0 (SHUTDOWN over the link)", err)
	}
}

func TestStart_KubectlMissing(t *testing.T) {
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer func() { _ = root.Shutdown(ctx) }()
	_, err = kube.Start(ctx, root, kube.Options{Pod: "p", Kubectl: "/nonexistent/kubectl"})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v, want one wrapping os.ErrNotExist", err)
	}
}

// TestStart_ThroughAnIntermediate: kube.Start with Common.Via: the
// intermediate (a local context) runs the stand-in kubectl, the child is
// its child, and the root reaches it and shuts it down through it.
func TestStart_ThroughAnIntermediate(t *testing.T) {
	kubectl, argsFile := standIn(t)
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	defer func() { _ = root.Shutdown(ctx) }()
	hop, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "hop"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := kube.Start(ctx, root, kube.Options{Pod: "web-0", Namespace: "prod", Kubectl: kubectl,
		Common:    spawn.Common{Grace: time.Second, Via: hop},
		Bootstrap: spawn.Bootstrap{CacheDirs: []string{t.TempDir()}, Timeout: 3 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if args, _ := os.ReadFile(argsFile); !strings.HasPrefix(string(args), "exec\n-i\nweb-0\n-n\nprod\n--\n/bin/sh\n-c\n") {
		t.Fatalf("kubectl was called with %q", args)
	}
	info := c.Info()
	if c.Name() != "kube-web-0" || info.Method != "kubectl" || info.Via != hop.ID() {
		t.Fatalf("name %q, info %+v", c.Name(), info)
	}
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: 7})
	if err != nil || pong.N != 7 {
		t.Fatalf("pong %+v, %v", pong, err)
	}
	stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pong.Pid) + "/stat")
	if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) < 2 || f[1] != strconv.Itoa(hop.Pid()) {
		t.Fatalf("the child's parent is %v, not the intermediate %d", f, hop.Pid())
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if err := hop.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
