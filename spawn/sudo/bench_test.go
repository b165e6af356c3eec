package sudo_test

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// BenchmarkSudoFloor is the method's own floor: `sudo -u U true`, from
// root (no password) and from spindle-a with its password on stdin.
func BenchmarkSudoFloor(b *testing.B) {
	u := sudotest.Setup(b)
	b.Run("nopass", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command("sudo", "-n", "-u", u.B.Name, "true").CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("password", func(b *testing.B) {
		for b.Loop() {
			c := exec.Command("sudo", "-S", "-p", "", "-u", "root", "true")
			c.SysProcAttr = sudoSysProc(u.A)
			c.Stdin = stringsReader(u.A.Password + "\n")
			if out, err := c.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}

// BenchmarkSudoRunner is the wrapper's start to the marker and the end of
// `true`: the floor plus the marker shell and the dialogue.
func BenchmarkSudoRunner(b *testing.B) {
	u := sudotest.Setup(b)
	b.Run("nopass", func(b *testing.B) {
		tgt, _ := sudo.Sudo(&sudo.Host{}, sudo.Options{User: u.B.Name})
		benchRun(b, tgt)
	})
	b.Run("password", func(b *testing.B) {
		tgt, _ := sudo.Sudo(host(u.A), sudo.Options{Auth: sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}})
		benchRun(b, tgt)
	})
}

func benchRun(b *testing.B, tgt runner.Target) {
	ctx := context.Background()
	for b.Loop() {
		r, err := tgt.Runner(runner.Command{Argv: []string{"true"}})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Stdout())
		_, _ = io.Copy(io.Discard, r.Stderr())
		if err := r.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func sudoSysProc(u sudotest.User) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: u.Credential()}
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
