package execrun

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/spawn/runner"
)

func start(t *testing.T, tg *Target, argv ...string) runner.Runner {
	t.Helper()
	r, err := tg.Runner(runner.Command{Argv: argv})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Kill(context.Background())
		_ = r.Wait(context.Background())
		_, _, _ = r.Stdin().Close(), r.Stdout().Close(), r.Stderr().Close()
	})
	return r
}

func TestRunner_PrefixAndStdio(t *testing.T) {
	tg := &Target{Prefix: []string{"sh", "-c", `printf "%s|" "$@"; cat`, "sh"}}
	r := start(t, tg, "a b", "c")
	_, _ = io.WriteString(r.Stdin(), "in")
	_ = r.Stdin().Close()
	out, _ := io.ReadAll(r.Stdout())
	if string(out) != "a b|c|in" {
		t.Fatalf("stdout %q", out)
	}
	if err := r.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRunner_ExitStatusAndWaitTwice(t *testing.T) {
	r := start(t, &Target{}, "sh", "-c", "exit 3")
	for i := 0; i < 2; i++ {
		var ec runner.ExitCoder
		if err := r.Wait(context.Background()); !errors.As(err, &ec) || ec.ExitCode() != 3 {
			t.Fatalf("wait %d: %v, want exit status 3", i, err)
		}
	}
}

func TestRunner_KillTwiceAndTheWholeGroup(t *testing.T) {
	// The shell forks a grandchild; Kill must end the whole group.
	r := start(t, &Target{Signals: true}, "sh", "-c", "sleep 600 & echo $!; wait")
	line := make([]byte, 32)
	n, _ := r.Stdout().Read(line)
	grandkid := strings.TrimSpace(string(line[:n]))
	for i := 0; i < 2; i++ {
		if err := r.Kill(context.Background()); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
	}
	var ee *runner.ExitError
	if err := r.Wait(context.Background()); !errors.As(err, &ee) || ee.Signal != runner.SIGKILL || ee.Code != 137 {
		t.Fatalf("wait: %v, want killed by KILL (137)", err)
	}
	if err := r.Kill(context.Background()); err != nil {
		t.Fatalf("kill after exit: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + grandkid); err != nil {
			break
		}
		if stat, _ := os.ReadFile("/proc/" + grandkid + "/stat"); strings.Contains(string(stat), ") Z ") {
			break // a zombie waiting for init
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %s outlived Kill", grandkid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunner_KillGraceTriesTERMFirst(t *testing.T) {
	r := start(t, &Target{Signals: true, KillGrace: 5 * time.Second}, "sh", "-c", "trap 'exit 7' TERM; echo up; while :; do sleep 0.05; done")
	buf := make([]byte, 3)
	_, _ = io.ReadFull(r.Stdout(), buf)
	if err := r.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ec runner.ExitCoder
	if err := r.Wait(context.Background()); !errors.As(err, &ec) || ec.ExitCode() != 7 {
		t.Fatalf("wait: %v, want the TERM trap's exit status 7", err)
	}
}

func TestRunner_SignalUnsupportedThroughADaemonCLI(t *testing.T) {
	r := start(t, &Target{}, "sleep", "600")
	if err := r.Signal(context.Background(), runner.SIGTERM); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("signal: %v, want ErrUnsupported", err)
	}
}

func TestTarget_EnvNeedsAWay(t *testing.T) {
	tg := &Target{Prefix: []string{"docker", "exec", "-i", "c"}}
	if _, err := tg.Runner(runner.Command{Argv: []string{"sh"}, Env: []string{"A=1"}}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("env through a prefix without EnvArgs: %v, want ErrUnsupported", err)
	}
	tg.EnvArgs = func(env []string) []string { return []string{"-e", env[0]} }
	r, err := tg.Runner(runner.Command{Argv: []string{"sh"}, Env: []string{"A=1"}})
	if err != nil || !strings.Contains(r.String(), "c -e A=1") {
		t.Fatalf("runner %v, %v", r, err)
	}
	if _, err := (&Target{}).Runner(runner.Command{}); err == nil {
		t.Fatal("empty argv accepted")
	}
}
