package actors

import (
	"runtime"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
)

// TestProtoactorShards_SetBeforeAnySystem: package actors has set the
// concurrent-map shard count by the time any code that imports it runs,
// and an actor system then costs a bounded amount of heap (with the
// library's default of 32 shards it allocates over 3 MiB).
func TestProtoactorShards_SetBeforeAnySystem(t *testing.T) {
	if cmap.SHARD_COUNT != protoactorShards {
		t.Fatalf("cmap.SHARD_COUNT = %d, want %d", cmap.SHARD_COUNT, protoactorShards)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sys := actor.NewActorSystem()
	runtime.ReadMemStats(&after)
	defer sys.Shutdown()
	const bound = 1 << 20
	if got := after.TotalAlloc - before.TotalAlloc; got > bound {
		t.Fatalf("NewActorSystem allocated %d KiB, bound %d KiB", got>>10, bound>>10)
	}
	t.Logf("NewActorSystem allocated %d KiB", (after.TotalAlloc-before.TotalAlloc)>>10)
}
