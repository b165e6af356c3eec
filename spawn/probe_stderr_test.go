package spawn_test

// Acceptance probe of issue 11 ("A stderr line of 2 MiB made the forwarder
// stop reading and the child die of SIGPIPE"), end to end: a real child
// context started by spawn.Local writes a 2 MiB stderr line before its
// handshake, then lives on, answers, and exits 0 when asked.

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// probeStderrEnv makes this test binary, started as a child context, write
// one stderr line of 2 MiB and then the line "after the long line" before
// it joins its parent.
const probeStderrEnv = "SPINDLE_PROBE_STDERR_BOMB"

func init() {
	if os.Getenv(probeStderrEnv) != "" {
		_ = os.Unsetenv(probeStderrEnv) // not for its own children
		_, _ = os.Stderr.WriteString(strings.Repeat("x", 2<<20) + "\nafter the long line\n")
	}
}

func TestProbe_ChildWithLongStderrLineLives(t *testing.T) {
	capt := newCapture()
	root := newRoot(t, sloggerOf(capt))
	ctx := testCtx(t, 60*time.Second)
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "loud", Grace: time.Second,
		Env: []string{probeStderrEnv + "=1"}}})
	if err != nil {
		t.Fatalf("spawn a child that writes a 2 MiB stderr line: %v", err)
	}
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
		t.Fatalf("the child stopped answering after its long stderr line: %v", err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("exit %v, want status 0 (not SIGPIPE)", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pieces, bytes, after := stderrPieces(capt)
		if after {
			t.Logf("the 2 MiB line was forwarded in %d pieces of %d bytes in all", pieces, bytes)
			if bytes != 2<<20 {
				t.Fatalf("%d bytes of the long line forwarded, want all 2 MiB", bytes)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the line after the long one was never forwarded (%d pieces, %d bytes)", pieces, bytes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stderrPieces scans the forwarded stderr records for the pieces of the
// long line and the line after it.
func stderrPieces(c capture) (pieces, bytes int, after bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range *c.recs {
		if r.Message != "child stderr" {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "line" {
				switch l := a.Value.String(); {
				case l == "after the long line":
					after = true
				case strings.Trim(l, "x") == "" && l != "":
					pieces++
					bytes += len(l)
				}
			}
			return true
		})
	}
	return pieces, bytes, after
}
