package containertest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spindle-go/spindle/internal/containertest"
)

func engines(t *testing.T) map[string]func(testing.TB) *containertest.Engine {
	return map[string]func(testing.TB) *containertest.Engine{
		"docker": containertest.Docker,
		"podman": containertest.Podman,
	}
}

// TestImages checks what the images promise: busybox's sh and applets, the
// test user, writable /tmp; no shell at all in the other one.
func TestImages(t *testing.T) {
	for name, get := range engines(t) {
		t.Run(name, func(t *testing.T) {
			e := get(t)
			bb := e.BusyboxImage(t)
			if again := e.BusyboxImage(t); again != bb {
				t.Fatalf("second call gave %s, first %s", again, bb)
			}
			c := e.Run(t, bb, containertest.RunOptions{Hostname: "bb-test"})
			out := c.Exec(t, "sh", "-c", "id -u; hostname; touch /tmp/x && echo tmp-ok; ls /usr 2>&1 || true")
			for _, want := range []string{"0\n", "bb-test", "tmp-ok", "No such file"} {
				if !strings.Contains(out, want) {
					t.Errorf("busybox container: output lacks %q:\n%s", want, out)
				}
			}
			if got := c.Exec(t, "sh", "-c", "su -s /bin/sh spindle -c 'id -u; echo $HOME' 2>&1 || id spindle"); !strings.Contains(got, "1000") {
				t.Errorf("test user: %s", got)
			}
			ns := e.Run(t, e.NoShellImage(t), containertest.RunOptions{})
			if st := ns.State(); st != "running" {
				t.Fatalf("no-shell container state %q, want running", st)
			}
			cmd := exec.Command(e.Path, "exec", ns.Name, "sh", "-c", "true")
			if b, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("sh ran in the no-shell container: %s", b)
			}
			c.Remove()
			if st := c.State(); st != "" {
				t.Errorf("state after Remove %q, want none", st)
			}
		})
	}
}

// TestStaticTestBinary runs the static build of this test package inside
// a busybox-only container, where the dynamically linked original could
// not run.
func TestStaticTestBinary(t *testing.T) {
	e := containertest.Docker(t)
	bin := containertest.StaticTestBinary(t)
	if !containertest.IsStatic(bin) {
		t.Fatalf("%s is not static", bin)
	}
	dir := filepath.Dir(bin)
	c := e.Run(t, e.BusyboxImage(t), containertest.RunOptions{Args: []string{"-v", dir + ":/static:ro"}})
	out := c.Exec(t, "/static/"+filepath.Base(bin), "-test.list", "StaticTestBinary")
	if !strings.Contains(out, "TestStaticTestBinary") {
		t.Fatalf("static binary in the container printed %q", out)
	}
	self, _ := os.Executable()
	if containertest.IsStatic(self) {
		t.Logf("note: this test binary is static too")
	}
}

func TestCLIProcesses(t *testing.T) {
	e := containertest.Docker(t)
	c := e.Run(t, e.BusyboxImage(t), containertest.RunOptions{})
	cmd := exec.Command(e.Path, "exec", "-i", c.Name, "cat")
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if pids := containertest.CLIProcesses(c.Name); len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Errorf("CLIProcesses(%s) = %v, want [%d]", c.Name, pids, cmd.Process.Pid)
	}
	stdin.Close()
	_ = cmd.Wait()
	if pids := containertest.CLIProcesses(c.Name); len(pids) != 0 {
		t.Errorf("after exit: %v", pids)
	}
}
