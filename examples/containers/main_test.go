package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn"
)

func TestMain(m *testing.M) {
	spawn.Main(setup) // the contexts run this test binary (its static build in the containers)
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// TestExample runs the example against the real Docker engine with the
// busybox-only image, and real sudo to nobody.
func TestExample(t *testing.T) {
	e := containertest.Docker(t)
	img := e.BusyboxImage(t)
	bin := containertest.StaticTestBinary(t)
	sudoUser := "nobody"
	if _, err := exec.LookPath("sudo"); err != nil {
		containertest.Unavailable(t, "needs sudo (Debian: apt-get install sudo)")
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := run(ctx, []string{"-image", img, "-binary", bin, "-sudo-user", sudoUser}, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"exec-box     ", "fresh-1      ", "fresh-2      ", "sudo-nobody  ",
		" exec-box ", // the hostname of the exec'd container
		"kill spindle-", "failed: remote process 1 on docker spindle-", "killed by signal KILL",
		"fresh-1 restarted as ctx", "supervisor stopped",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// uid column: root in two containers, 1000 in fresh-2, nobody under sudo.
	for _, row := range []struct{ ctx, uid string }{{"exec-box", "0"}, {"fresh-2", "1000"}, {"sudo-nobody", "65534"}} {
		if !hasRow(text, row.ctx, row.uid) {
			t.Errorf("no row for %s with uid %s", row.ctx, row.uid)
		}
	}
	if left := containertest.CLIProcesses("spindle-"); len(left) > 0 {
		t.Logf("CLI processes mentioning spindle- (other tests may run): %v", left)
	}
}

func hasRow(text, ctx, uid string) bool {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == ctx && f[2] == uid {
			return true
		}
	}
	return false
}

func TestExample_NeedsStaticBinary(t *testing.T) {
	self, _ := os.Executable()
	if static(self) {
		t.Skip("this test binary is static")
	}
	err := run(context.Background(), []string{"-image", "x"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("error %v, want the static-binary hint", err)
	}
}
