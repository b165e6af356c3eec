package spawn_test

import (
	"context"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// BenchmarkVia_LocalSpawn: a local spawn to its first reply, direct and
// through a warm local intermediate, in the same run (issue 13 item 7,
// first figure). The shutdown of each child is not timed.
func BenchmarkVia_LocalSpawn(b *testing.B) {
	root := newRoot(b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mid, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "mid"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		via  spawn.Hop
	}{{"direct", nil}, {"via", mid}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Grace: time.Second, Via: bc.via}})
				if err != nil {
					b.Fatal(err)
				}
				pid, err := c.Spawn(ctx, "echo", "")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := c.Shutdown(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
