// Package link is one framed byte stream between two neighbouring contexts:
// its bounded queues and writer goroutine, the inline write of an idle link
// or of an answer, its reader loop and the watchdog of work run on it, the
// heartbeat, the SCM_RIGHTS descriptor passing of a
// unix socket, and the hello exchange that opens it.
//
// A Link knows frames only by their header. It hands every frame it reads to
// a Handler (the node) on its reader goroutine and reports, once, why it went
// down. Routing, policy and decoding belong to the Handler; link imports wire
// and the standard library (and x/sys), never package actors.
//
// # Usage
//
//	in := link.NewInput(t, maxFrame)          // read side, before the handshake
//	peer, err := link.ExchangeHello(ctx, in.Reader(), t, myHelloFrame)
//	l := link.New(t, in, link.Config{Local: me, Peer: peer.ContextID,
//		PeerFeatures: peer.Features, Heartbeat: hb}, handler)
//	l.Start()
//	err = l.Send(frame, link.Inline)
//	l.Close()                                 // or wait on l.Done()
//
// # The caller's duties
//
//   - Call Start once; call Close (or Shutdown and then Wait) before
//     dropping a started Link: Close waits for every goroutine it started.
//   - Handler.HandleFrame runs on the reader goroutine. It may Send with
//     Queued or Control on any link, never Inline: a reader that writes can
//     deadlock with a peer whose reader is writing too. Work it leaves to
//     RunAfter runs on the reader under the watchdog (RunBudget), which
//     gives the link a new reader when a run blocks or runs long; such a
//     run may send in any mode.
//   - A frame handed to HandleFrame is valid only until it returns; the
//     descriptors it carries belong to the Link until TakeFDs.
//
// # Concurrency
//
// A Link is safe for concurrent use: Send, SendFDs, Shutdown and Close may be
// called from any goroutine. TakeFDs, RunAfter and Streaming may be called
// only from HandleFrame.
package link
