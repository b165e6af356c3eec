// Package supervision supervises child contexts as Erlang/OTP supervisors
// supervise processes: when a context's process dies (its IS_DEAD reason is
// the failure), the supervisor restarts it, and the children its strategy
// names, as a new process with a new context ID, and recreates the actors
// inside it.
//
// # Usage
//
//	sup, err := supervision.Start(ctx, node, supervision.Config{
//		Name: "pool",
//		Policy: supervision.Policy{Strategy: supervision.OneForOne, MaxRestarts: 5, Period: 10 * time.Second},
//		Children: []supervision.ContextSpec{{
//			Name:   "worker-1",
//			Start:  func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
//				return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name}})
//			},
//			Actors: []supervision.ActorSpec{{Kind: "worker", Name: "w"}},
//		}},
//		OnEvent: func(ev supervision.Event) { ... }, // must not block
//	})
//	err = sup.WaitUp(ctx)          // every child up, or a *WaitError naming who is not and why
//	ci, _ := sup.Child("worker-1") // ci.PIDs["w"] is the worker of the current incarnation
//	<-sup.Done()                   // after Stop, when ctx ends, or when it gave up (sup.Err())
//
// The caller's duties: look PIDs up again after a restart (Child, or the
// ChildRestarted event): PIDs of a dead incarnation stay dead, by design.
// Stop the supervisor, cancel its ctx or shut the node down before exiting.
//
// # Semantics
//
// Strategies OneForOne, OneForAll and RestForOne; restart types Permanent,
// Transient (restarted only after an abnormal exit: anything but exit
// status 0) and Temporary; a restart intensity (MaxRestarts within Period)
// beyond which the supervisor stops every child and gives up with a
// *GaveUpError; an exponential backoff with jitter between restarts of a
// child that keeps failing.
//
// OneForOne children start and restart in parallel, each on its own
// backoff, so a child that is slow or down at start holds no other up
// (Policy.Sequential restores the ordered start); OneForAll and RestForOne
// children start one at a time, in order. All are stopped last-started
// first.
//
// For a fleet, give each host its own intensity (ContextSpec.Intensity):
// its restarts then count against it alone, and when it is exceeded only
// that child is given up (ChildFailed.GaveUp) while the others go on;
// Intensity{Forever: true} retries a host that is down for ever, spaced by
// its backoff; WaitTried returns once every host is up or has failed once,
// so a job goes on with the hosts that are up. docs/supervision.md says
// when to prefer one supervisor per host; examples/fleet shows the whole.
//
// A context started through another supervised context (docs/via.md)
// names it in ContextSpec.Via, and its StartFunc passes Intermediate(ctx)
// as spawn.Common.Via: it starts only while its intermediate is up, and
// when the intermediate dies (taking it along) the intermediate is
// restarted first, then the contexts behind it, in order, whatever the
// strategy, with one failure counted (docs/supervision.md).
//
// Failures, restarts and give-ups are Events (ChildStarted, ChildFailed,
// ChildRestarted, SupervisorGaveUp), given to Config.OnEvent, published on
// the actor system's event stream and logged. ChildFailed.Reason and
// ChildInfo.LastErr keep the cause's type: the context's death reason or a
// *StartError.
//
// The decisions come from a pure state machine (supervision/internal/core)
// fed with events and the time, tested without sleeps; the supervisor
// actor around it does the starting and stopping on its own goroutines and
// never blocks. A Supervisor is safe for concurrent use.
//
// Actors supervising actors in other contexts need nothing from this
// package: see actors.Node.ChildProps, which carries protoactor's own
// supervision (failures, directives, Terminated) across contexts.
package supervision
