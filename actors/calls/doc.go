// Package calls lets a context call functions and services registered in
// other contexts of a Spindle tree and get their typed answers or typed
// errors: Mitogen's context.call and service framework, on Spindle's
// links. It is built on the node's kind table (actors.Node.HandleKind and
// SendKind): CALL_FUNCTION (101), CALL_SERVICE (110), CALL_REPLY (121),
// CALL_CANCEL (122). See docs/calls.md for the design and docs/security.md
// for what a hostile caller can and cannot do.
//
// # Usage
//
// Make the node's Endpoint and register functions, services and errors in
// Config.Setup, the same in every context:
//
//	func setup(n *actors.Node) error {
//		ep, err := calls.New(n, calls.Config{})
//		if err != nil {
//			return err
//		}
//		return calls.Handle(ep, "uptime", func(ctx context.Context, req *UptimeReq) (*Uptime, error) {
//			return &Uptime{Seconds: readUptime()}, nil
//		})
//	}
//
// then call from any context that may (plain functions: its ancestors):
//
//	ep := calls.Of(root)
//	up, err := calls.Call[UptimeReq, Uptime](ctx, ep, child.ID(), "uptime", &UptimeReq{})
//
// Services ([NewService], [Method], [CallService]) offer methods to other
// contexts under a [Policy] and limits of their own; [Gather] and
// [CallAll] call many contexts at once; [Go] delivers a call's [Result] to
// an actor as a message.
//
// # Errors
//
// A handler's error arrives as a *[RemoteError] with a stable [Code]; an
// error registered by name in both contexts ([RegisterError],
// [RegisterErrorType]) is rebuilt and unwrapped to, so errors.Is and
// errors.As work across contexts. A call to a context that dies, or that
// cannot be reached, fails at once with an error matching
// actors.ErrContextDead, whose *actors.DeadError carries the typed cause.
//
// # Caller's duties
//
//   - Create the Endpoint in Config.Setup in every context (also in the
//     contexts that only route calls: they name the failed call in the
//     IS_DEAD of a call they cannot pass on). A call to a context without
//     an endpoint fails at once (rejected as an unknown kind); one whose
//     chunks are refused on the way ends at its ctx's deadline: give
//     calls a deadline.
//   - Register the same functions, services and error names in every
//     context that calls or serves them.
//   - Never call Call, CallService or Gather from an actor's Receive or a
//     KindHandler: they block. Use Go.
//   - Handlers must honour their ctx: it is cancelled when the caller gives
//     up or dies, and when the node shuts down.
//
// # Concurrency
//
// An Endpoint is safe for concurrent use. Frames are handled on the links'
// reader goroutines (a refusal is queued on the link the call came in
// on); a call that can run at once runs right after its frame on that
// reader, under the link's watchdog, which gives the link a new reader
// when a handler blocks (actors.Node.HandleKindRun); queued calls run on
// the goroutine that finished the call before them. Handlers run within
// their pool's limits, and the endpoint waits for them when it closes (at
// the node's Shutdown). Endpoint.Stats
// reports what it holds.
package calls
