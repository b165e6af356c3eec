package actors

import cmap "github.com/orcaman/concurrent-map"

// protoactorShards is the shard count Spindle gives
// github.com/orcaman/concurrent-map, which protoactor's ProcessRegistry uses
// for each of its 1024 buckets. The library's default of 32 makes every
// actor.NewActorSystem build 1024x32 maps (about 66,000 allocations,
// 2.5-4 ms and 3 MB of a small context's memory); the buckets already
// spread the locks, so one shard per bucket costs no contention.
const protoactorShards = 1

// init sets cmap.SHARD_COUNT, a process-wide variable, once, when package
// actors is initialised. That is before any code of a package that imports
// actors runs (its package variables, its init functions, main), so before
// any actor system such code makes. The value must never change while a
// concurrent map exists: the library takes a key's shard as hash modulo
// the current SHARD_COUNT, so a map built with another count loses keys
// (fewer shards) or panics (more). Hence:
//   - a program that set SHARD_COUNT itself before this runs keeps its value
//     (only the library's default is replaced);
//   - a package that does not import actors and builds actor systems or
//     concurrent maps from its own package initialisers would break; no
//     Spindle package does, and such a program must set
//     cmap.SHARD_COUNT = 1 before that itself.
//
// Any count >= 1 works (the library uses modulo, not a mask).
func init() {
	if cmap.SHARD_COUNT == 32 {
		cmap.SHARD_COUNT = protoactorShards
	}
}
