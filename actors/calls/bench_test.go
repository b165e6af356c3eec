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

// BenchmarkFanOut calls the same function in 4 child processes: with
// CallAll (all at once from one goroutine), Gather of Call (a goroutine
// per call), and one after the other.
func BenchmarkFanOut(b *testing.B) {
	root := newRoot(b, calls.Config{})
	ep := calls.Of(root)
	var ids []uint32
	for i := range 4 {
		ids = append(ids, startChildB(b, root, "w"+string(rune('0'+i))))
	}
	ctx := context.Background()
	req := &Echo{Text: "ping"}
	b.Run("CallAll", func(b *testing.B) {
		for b.Loop() {
			for _, o := range calls.CallAll[Echo, Echoed](ctx, ep, ids, "echo", req, calls.GatherOptions{}) {
				if o.Err != nil {
					b.Fatal(o.Err)
				}
			}
		}
	})
	b.Run("Gather", func(b *testing.B) {
		for b.Loop() {
			outs := calls.Gather(ctx, ids, calls.GatherOptions{}, func(ctx context.Context, id uint32) (*Echoed, error) {
				return calls.Call[Echo, Echoed](ctx, ep, id, "echo", req)
			})
			for _, o := range outs {
				if o.Err != nil {
					b.Fatal(o.Err)
				}
			}
		}
	})
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			for _, id := range ids {
				if _, err := calls.Call[Echo, Echoed](ctx, ep, id, "echo", req); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
