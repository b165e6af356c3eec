package actors

import (
	"runtime"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
)

// TestProtoactorShards_SetBeforeAnySystem: package actors has set the
// concurrent-map shard count by the time any code that imports it runs, an
// actor system's registry buckets have one shard each, and making one
// costs a bounded amount of heap (with the library's default of 32 shards
// it allocates over 3 MiB). The allocation is the least of three tries, as
// goroutines left over from other tests may allocate meanwhile.
func TestProtoactorShards_SetBeforeAnySystem(t *testing.T) {
	if cmap.SHARD_COUNT != protoactorShards {
		t.Fatalf("cmap.SHARD_COUNT = %d, want %d", cmap.SHARD_COUNT, protoactorShards)
	}
	least := ^uint64(0)
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		sys := actor.NewActorSystem()
		runtime.ReadMemStats(&after)
		if got := len(sys.ProcessRegistry.LocalPIDs.GetBucket("x")); got != protoactorShards {
			t.Fatalf("registry bucket has %d shards, want %d", got, protoactorShards)
		}
		sys.Shutdown()
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	const bound = 1 << 20
	t.Logf("NewActorSystem allocated %d KiB", least>>10)
	if least > bound {
		t.Fatalf("NewActorSystem allocated %d KiB, bound %d KiB", least>>10, bound>>10)
	}
}
