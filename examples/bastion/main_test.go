package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spindle-go/spindle/spawn"
)

func TestMain(m *testing.M) {
	spawn.Main(setup) // every context of the chain is this test binary, re-executed
	os.Exit(m.Run())
}

// TestBastion runs the example end to end.
func TestBastion(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("bastion failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"app ", "started by ctx-", "chain: true",
		"inner: errors.Is(reason, actors.ErrContextDead) = true",
		"app: errors.Is(reason, actors.ErrContextDead) = true",
		"no process left",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
