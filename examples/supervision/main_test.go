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

// TestSupervisionExample runs the example end to end.
func TestSupervisionExample(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("example failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"killed by signal SIGKILL (exit status 137)",
		"heartbeat timeout",
		"worker-2 restarted as ctx",
		"worker-3 restarted as ctx",
		"clean shutdown",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "roll call:") != 4 {
		t.Errorf("want 4 roll calls:\n%s", out.String())
	}
}
