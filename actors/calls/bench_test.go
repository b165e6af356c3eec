package calls_test

import (
	"context"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
)

// BenchmarkRoundTrip measures one call round trip (calls.Call of a
// function that echoes a short text) next to actors.Request of an actor
// that does the same, in the same run: to an in-process child over
// net.Pipe, and to a child process over pipes.
func BenchmarkRoundTrip(b *testing.B) {
	for _, where := range []string{"pipe", "process"} {
		b.Run(where, func(b *testing.B) {
			root := newRoot(b, calls.Config{})
			var id uint32
			if where == "pipe" {
				id = attach(b, root, "bench").link.ID
			} else {
				id = startChildB(b, root, "bench")
			}
			ctx := context.Background()
			ep := calls.Of(root)
			pid, err := root.SpawnRemote(ctx, id, "echo", "echo")
			if err != nil {
				b.Fatal(err)
			}
			req := &Echo{Text: "ping"}
			b.Run("calls.Call", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := calls.Call[Echo, Echoed](ctx, ep, id, "echo", req); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("actors.Request", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := actors.Request[*Echoed](ctx, root, pid, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func startChildB(b *testing.B, root *actors.Node, name string) uint32 {
	b.Helper()
	c, err := spawnLocal(root, name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	return c.ID()
}
