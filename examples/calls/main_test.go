package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/spawn"
)

func TestMain(m *testing.M) {
	spawn.Main(setup) // the workers are this test binary, re-executed
	os.Exit(m.Run())
}

// TestCalls runs the example end to end.
func TestCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("example failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"sum 1..80 = 173880",
		"too big: errors.Is(err, ErrTooBig) = true",
		"'s service: sum 1..3 = 14; -> the root's function: refused = true",
		"killed worker: errors.Is(err, actors.ErrContextDead) = true, exit status 137",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}
