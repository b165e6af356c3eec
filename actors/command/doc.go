// Package command runs OS commands in other contexts of a Spindle tree:
// their stdout and stderr come back as they are written, their exit
// status is a typed error, and their whole process group is killed when
// the caller gives up (its ctx, its death, a broken stream) or the context
// that runs them shuts down: no process of a command survives Ctrl-C of
// the root. A command is one stream of package actors/transfer (handler
// "spindle.command"), so it needs nothing else from the tree.
//
// # Usage
//
// Make a Runner in Config.Setup of every context, after its Transfer:
//
//	setup := func(n *actors.Node) error {
//		t, err := transfer.New(n, transfer.Config{})
//		if err != nil {
//			return err
//		}
//		runner, err = command.New(t, command.Config{}) // ancestors may run commands here
//		return err
//	}
//
// Then, from an ancestor:
//
//	err := runner.Run(ctx, hostID, command.Cmd{Path: "make", Args: []string{"test"},
//		Stdout: os.Stdout, Stderr: os.Stderr})
//	var ee *command.ExitError
//	if errors.As(err, &ee) { ... ee.ExitCode(), ee.Signal ... }
//	out, err := runner.Output(ctx, hostID, "uname", "-a")
//
// # What runs where
//
// The command runs in the target context's process: Path is looked up in
// its PATH, Env nil means its environment, Dir empty its working
// directory. It is the leader of a process group of its own (and gets
// SIGKILL when its context's process dies, where the kernel offers it:
// Pdeathsig on Linux). When the caller's ctx ends, the caller dies, the
// stream is reset or the target shuts down, the group gets SIGTERM and,
// after Config.KillGrace (default 2 s) or as soon as the leader has
// exited, SIGKILL. Processes that left the group (setsid, daemons) are
// not followed.
//
// # Caller's duties
//
//   - Pass a ctx that ends: the command runs as long as it does.
//   - Running commands is privileged: by default only ancestors may
//     (Config.Allow widens it).
//
// # Concurrency
//
// A Runner is safe for concurrent use; each Run is one stream, and the
// Stdout and Stderr writers are called on Run's goroutine, one at a time.
package command
