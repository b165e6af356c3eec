// Package transfer moves bytes between two contexts of a Spindle tree: a
// general stream with flow control, and on top of it file push and pull
// (in the spirit of Mitogen's FileService and PushFileService). It is a
// feature package built on the node's kind table ([actors.Node.HandleKind],
// [actors.Node.SendKindFlags]), with kinds 130-133 (wire.KindStreamOpen ..
// wire.KindStreamReset).
//
// # Usage
//
// Make one [Transfer] per node in Config.Setup (in every context: the
// same setup runs in the children), register stream handlers there, and
// keep the *Transfer:
//
//	var tr *transfer.Transfer
//	setup := func(n *actors.Node) (err error) {
//		if tr, err = transfer.New(n, transfer.Config{}); err != nil {
//			return err
//		}
//		return tr.Handle("logs.tail", tailLogs, nil) // nil: ancestors only
//	}
//
// Then open streams and move files from any context:
//
//	s, err := tr.Open(ctx, childID, "logs.tail") // lives as long as ctx
//	io.Copy(os.Stdout, s)
//	_, err = tr.PushFile(ctx, childID, "build/app", "/opt/app/bin/app", nil)
//	_, err = tr.PullFile(ctx, childID, "/var/log/app.log", "app.log", nil)
//
// A stream is an io.Reader and io.Writer in each direction, with
// [Stream.CloseWrite] (half close), [Stream.Close] and [Stream.Reset]. A
// writer never sends more than the reader's window ([Config.Window]), so a
// slow reader slows its writer and holds no more than that. A pushed or
// pulled file is written atomically: a temporary file in the target
// directory, checked against the SHA-256 of the data, given its mode,
// synced and renamed. See docs/calls.md, "Files and streams".
//
// # Caller's duties
//
//   - Pass a ctx that ends to Open, Push and Pull: the stream lives as long
//     as it does.
//   - Read a stream to its end, or Close it: an unread stream keeps its
//     window's worth of data.
//   - Decide who may open a handler: the default Policy lets ancestors
//     only; files are privileged (Config.AllowFiles, ancestors by default).
//
// # Errors
//
// A stream whose other context dies fails at once with its
// *actors.DeadError (errors.Is actors.ErrContextDead); a reset is a
// *StreamError matching ErrRefused, ErrNoHandler, ErrLimit, ErrCanceled,
// ErrFlowControl, ErrShutdown, ErrHandler or ErrProtocol; a file operation
// that failed at the other side is a *FileError matching fs.ErrNotExist,
// fs.ErrPermission, fs.ErrExist, ErrChecksum or ErrPath.
//
// # Concurrency
//
// A Transfer is safe for concurrent use. A Stream's Read and Write may run
// at the same time in two goroutines; concurrent Writes (or Reads) are
// serialised. Handlers run on their own goroutines, which the node's
// shutdown waits for.
package transfer
