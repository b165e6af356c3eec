package command_test

import (
	"os/exec"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/command"
	"github.com/spindle-go/spindle/spawn"
)

// BenchmarkRun_True runs `true` in a child process context: the round
// trip of a command (open, request, fork/exec, exit record) over local
// pipes.
func BenchmarkRun_True(b *testing.B) {
	root := newRoot(b, actors.Config{})
	c, err := spawn.Local(timeout(b), root, spawn.Options{Common: spawn.Common{Name: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Shutdown(timeout(b)) })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := runner(root).Run(timeout(b), c.ID(), command.Cmd{Path: "/bin/true"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExec_TrueHere is the floor of BenchmarkRun_True: os/exec of
// /bin/true in this process, no context in between.
func BenchmarkExec_TrueHere(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}
