package calls

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"
)

// Result is the message Go sends: the outcome of one call, with the Tag
// the caller gave Go to tell its calls apart.
type Result[Resp any] struct {
	Tag  any
	Resp *Resp
	Err  error
}

// Go runs call on a goroutine owned by ep and sends its outcome to the
// local actor to as a *Result[Resp]: the way an actor calls a function or
// a service (in another context or in its own) without blocking in
// Receive.
//
//	case *Start:
//		calls.Go(ctx, ep, c.Self(), m.Host, func(ctx context.Context) (*Uptime, error) {
//			return calls.Call[UptimeReq, Uptime](ctx, ep, m.Host, "uptime", &UptimeReq{})
//		})
//	case *calls.Result[Uptime]:
//		// m.Tag is the host, m.Resp or m.Err the outcome
//
// call's ctx is ctx, also cancelled when ep closes (the Result then
// carries the error). to must be a PID of this context (Result is not a
// registered type). A closed endpoint sends a Result with ErrClosed at
// once. Go is safe for concurrent use and never blocks.
func Go[Resp any](ctx context.Context, ep *Endpoint, to *actor.PID, tag any, call func(ctx context.Context) (*Resp, error)) {
	send := func(r *Result[Resp]) { ep.node.System().Root.Send(to, r) }
	if !ep.live.enter() {
		send(&Result[Resp]{Tag: tag, Err: ErrClosed})
		return
	}
	go func() {
		defer ep.live.leave()
		cctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(ep.base, cancel)
		resp, err := call(cctx)
		stop()
		cancel()
		send(&Result[Resp]{Tag: tag, Resp: resp, Err: err})
	}()
}
