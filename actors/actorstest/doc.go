// Package actorstest builds in-process trees of contexts for tests: a root
// Node and child Nodes joined to their parents over pipes (net.Pipe or
// os.Pipe), with the same handshake, routing, heartbeats and IS_DEAD as a
// tree of processes, but without spawning any. Use it to test actors, actor
// kinds, message types and handlers registered in a Setup, and how they
// behave when a context dies.
//
// # Usage
//
//	func TestGreeter(t *testing.T) {
//		tree := actorstest.New(t, actorstest.Shape{
//			Setup:    setup, // registers types and kinds; runs in every context
//			Children: []actorstest.Shape{{Name: "worker"}},
//		})
//		w := tree.Context("worker")
//		pid, err := tree.Root().SpawnRemote(ctx, w.ID(), "greeter", "g")
//		...
//		w.Cut() // as if the worker's process died: the root sees IS_DEAD
//	}
//
// Handlers and services of package actors/calls (and other feature
// packages) are tested the same way: make their endpoint in the Setup
// (see Example_handler).
//
// New shuts the whole tree down in t.Cleanup, children before parents, and
// logs the nodes' warnings and errors to the test. Start and Tree.Close do
// the same without a testing.TB.
//
// Every context runs in the test's process, so a Setup may close over the
// test's variables (channels an actor reports on), which a real child
// process could not. What this package cannot show: process exits and
// their statuses, descriptors passed over socketpairs, and anything about
// spawn methods; test those with real processes (package spawn).
//
// The caller's duties: give each context a unique name; register in Setup
// what every context must know (both ends decode the messages they
// exchange). A Tree is safe for concurrent use after Start returns.
//
// actorstest imports actors only, never spawn (a feature package).
package actorstest
