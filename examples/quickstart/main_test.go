package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spindle-go/spindle/spawn"
)

func TestMain(m *testing.M) {
	spawn.Main(setup) // the workers are this test binary, re-executed
	os.Exit(m.Run())
}

// TestQuickstart runs the README's main job end to end.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("quickstart failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"job 8 -> 170986800",
		"killed by signal SIGKILL (exit status 137)",
		"errors.Is(err, actors.ErrContextDead) = true",
		"Why: AddressTerminated}",
		"no child process left",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
