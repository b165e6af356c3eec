// Package actors makes every process of a Spindle tree a context: a
// protoactor ActorSystem whose address names the context ("ctx-7"), joined
// to its parent by one framed link. Actors anywhere in the tree are
// addressed with ordinary protoactor PIDs; a PID of another context is
// delivered over the links, and when a link breaks everything behind it
// turns into termination signals (IS_DEAD): Terminated for watchers, a
// *DeadError for pending requests, ContextDown events for the rest.
//
// # Usage
//
// The root of a tree is a [NewNode]; a child process calls [Join] on its
// link to the parent (package spawn does both ends for real processes),
// and the parent calls [Node.AttachChild]. Register what may cross the
// links in Config.Setup, which runs in every context before any frame is
// handled:
//
//	setup := func(n *actors.Node) error {
//		if err := actors.RegisterType[Greeting](n, "example.Greeting"); err != nil {
//			return err
//		}
//		n.RegisterKind("greeter", greeterProps)
//		return nil
//	}
//	root, err := actors.NewNode(actors.Config{Setup: setup})
//	...
//	pid, err := root.SpawnRemote(ctx, childID, "greeter", "")
//	reply, err := actors.Request[*Greeted](ctx, root, pid, &Greeting{Name: "ada"})
//
// Then use protoactor as usual: System().Root.Send, Watch, supervisors;
// [Node.Send], [Node.SendContext] and [Request] add errors that report a
// dead or unreachable context at once ([ErrContextDead], [*DeadError]).
//
// Feature packages (calls, services, binary forwarding) add frame kinds
// through [Node.HandleKind], the node's one kind table; the built-in kinds
// are registered through it too.
//
// # Caller's duties
//
//   - Register every message type and actor kind in Config.Setup, the same
//     in every context: nothing from the wire is decoded or spawned unless
//     it was registered.
//   - Call [Node.Shutdown] (with a deadline) on every node you created; it
//     stops child contexts through the OnShutdown hooks, closes the links
//     and waits for the node's goroutines.
//   - Pass a context with a deadline to blocking calls (AttachChild, Join,
//     Request, SendContext, SpawnRemote).
//   - A [KindHandler] runs on a link's reader goroutine: it must not block,
//     and must copy what it keeps of the frame.
//   - Treat every child as possibly hostile: its position in the tree is all
//     it is granted. What a child link's subtree can make a context hold is
//     bounded by [Quotas] (per link, freed when the link goes down);
//     exceeding a quota is a typed error ([ErrIDQuota], [ErrIDRate],
//     [ErrLogRate], [ErrRouteUpdate], wire.ErrChunkQuota,
//     wire.ErrDecodeTooLarge), published as a [QuotaExceeded] event, or a
//     closed link, never growth.
//
// # Concurrency
//
// A [Node] is safe for concurrent use. Each link has one reader goroutine,
// which handles the frames of that link one at a time and in order (so
// messages from one context arrive in order, and before the Terminated
// that reports its death), and one writer; frames for other contexts are
// forwarded by their header without decoding. The routing table, ID
// grants, dead set and quotas are a pure table (internal/route) that the
// node holds under its mutex, passing time in. Actor Receive functions run
// on protoactor's dispatchers, as in any ActorSystem, with one difference:
// a message read from a link for an idle actor is processed on that link's
// reader goroutine (zero-hop delivery, docs/links.md), under a watchdog
// that gives the link a new reader when a Receive blocks or runs long.
//
// # Process-wide settings
//
// Importing package actors makes its zero-hop dispatcher protoactor's
// default dispatcher (the one of every Props without WithDispatcher), for
// the whole process. It behaves as protoactor's default goroutine
// dispatcher (a goroutine per busy mailbox, throughput 300) except that a
// mailbox made busy by a message a Spindle link's reader posts runs on that
// reader. An actor with a dispatcher of its own keeps it.
//
// Importing package actors also makes its mailbox protoactor's default
// mailbox (the one of every Props without WithMailbox), for the whole
// process: an unbounded mailbox with protoactor's contract (system messages
// first, suspension, the dispatcher's throughput, panics escalated to the
// supervisor) that takes the messages posted since its last look in one
// lock per run instead of one per message. An actor with a mailbox of its
// own keeps it.
//
// Importing package actors also sets github.com/orcaman/concurrent-map's
// SHARD_COUNT from its default 32 to 1 when the package is initialised,
// for the whole process. protoactor's ProcessRegistry builds 1024 such maps
// per ActorSystem; with 32 shards each, an ActorSystem costs ~66,000
// allocations and several milliseconds, which dominated the start of a
// child context. The registry's 1024 buckets already spread its locks. The
// setting is made before any code of a package that imports actors runs,
// so every ActorSystem such code makes uses it. The library must never see
// SHARD_COUNT change while one of its maps exists: a program whose other
// packages create actor systems (or concurrent maps) from their package
// initialisers without importing actors must set cmap.SHARD_COUNT = 1
// there first; a program that sets another value before actors is
// initialised keeps it.
package actors
