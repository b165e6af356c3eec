// Package spawn starts child contexts: new processes that join the tree of
// a Node over a framed link.
//
// # Usage
//
// The program's main calls Main first. In a process started as a child
// context, Main runs the context until its parent link closes or its
// parent asks it to stop, then exits; in any other process it returns at
// once.
//
//	func setup(n *actors.Node) error {
//		actors.RegisterType[Job](n, "job")
//		n.RegisterKind("worker", actor.PropsFromProducer(newWorker))
//		return nil
//	}
//
//	func main() {
//		spawn.Main(setup)
//		node, _ := actors.NewNode(actors.Config{Setup: setup})
//		child, _ := spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: "worker-1"}})
//		pid, _ := child.Spawn(ctx, "worker", "w")
//		res, err := actors.Request[Result](ctx, node, pid, Job{N: 1})
//	}
//
// The caller's duties: call Main before anything else in main (or in
// TestMain for tests that spawn the test binary), register the same types
// and kinds in every context (pass the same setup function), and Shutdown
// the node (or each Context) before exiting.
//
// Other methods live in their own packages (spawn/ssh, spawn/command,
// spawn/kube, spawn/docker, spawn/sudo): each makes a runner.Target and
// calls Start, the seam for method authors, which runs the bootstrap
// (docs/bootstrap.md) and returns a *Process. Every started child is a
// Child, and ExitStatus reads the exit status from any of their errors.
//
// Local children run in their own process group with Pdeathsig set on
// Linux, so a parent that is killed leaves no orphan; they also exit when
// their parent link reaches EOF, which is what ends them on darwin and the
// BSDs, where there is no Pdeathsig (docs/platforms.md). Shutdown asks the child to stop, then sends SIGTERM,
// then SIGKILL, each after a grace period.
package spawn
