package otelmetrics

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/asynkron/protoactor-go/eventstream"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/spindle-go/spindle/actors"
)

// ScopeName is the instrumentation scope of the meter Register uses.
const ScopeName = "github.com/spindle-go/spindle/actors/otelmetrics"

// Attribute keys of every observation.
const (
	AttrPeerID    = attribute.Key("spindle.peer.id")      // the context ID on the other side
	AttrPeerName  = attribute.Key("spindle.peer.name")    // its name
	AttrLinkRole  = attribute.Key("spindle.link.role")    // "parent" or "child": what the peer is to this context
	AttrDirection = attribute.Key("network.io.direction") // "receive" or "transmit" (OTel semantic conventions)
	AttrContextID = attribute.Key("spindle.context.id")   // this context's ID
	AttrContext   = attribute.Key("spindle.context.name") // this context's name
)

// Attribute keys of spindle.context.down.
const (
	AttrDeadCode  = attribute.Key("spindle.dead.code")  // wire.DeadCode: "unreachable", "no actor", "rejected"
	AttrDeadCause = attribute.Key("spindle.dead.cause") // wire.Cause: "closed", "exit", "heartbeat", ...
)

// Registration is the instruments of one node; Unregister stops their
// callback and event subscription.
type Registration struct {
	n   *actors.Node
	mu  sync.Mutex
	reg metric.Registration
	sub *eventstream.Subscription
}

// Unregister stops observing the node. It is safe to call more than once.
func (r *Registration) Unregister() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sub != nil {
		r.n.System().EventStream.Unsubscribe(r.sub)
		r.sub = nil
	}
	if r.reg == nil {
		return nil
	}
	err := r.reg.Unregister()
	r.reg = nil
	return err
}

// instruments are the observable instruments of the link counters.
type instruments struct {
	frames, bytes, dead, dropped metric.Int64ObservableCounter
	queue, queueHigh, chunks     metric.Int64ObservableGauge
	rtt, srtt                    metric.Float64ObservableGauge
}

// Register creates the link instruments on mp's meter ScopeName and
// observes n's links at each collection, and counts the node's
// ContextDown events (one per context that went down, not per frame) on
// spindle.context.down.
func Register(n *actors.Node, mp metric.MeterProvider) (*Registration, error) {
	m := mp.Meter(ScopeName)
	var in instruments
	var errs [10]error
	var down metric.Int64Counter
	down, errs[9] = m.Int64Counter("spindle.context.down", metric.WithUnit("{context}"),
		metric.WithDescription("Contexts this context saw go down (IS_DEAD), by dead code and cause."))
	in.frames, errs[0] = m.Int64ObservableCounter("spindle.link.frames", metric.WithUnit("{frame}"),
		metric.WithDescription("Frames read from and sent on a link, heartbeats included."))
	in.bytes, errs[1] = m.Int64ObservableCounter("spindle.link.io", metric.WithUnit("By"),
		metric.WithDescription("Bytes of the frames read from and sent on a link."))
	in.dead, errs[2] = m.Int64ObservableCounter("spindle.link.dead_replies", metric.WithUnit("{frame}"),
		metric.WithDescription("IS_DEAD frames read and sent on a link, own and forwarded."))
	in.dropped, errs[3] = m.Int64ObservableCounter("spindle.link.dropped", metric.WithUnit("{frame}"),
		metric.WithDescription("Frames from the peer dropped or refused by policy or quota."))
	in.queue, errs[4] = m.Int64ObservableGauge("spindle.link.queue.size", metric.WithUnit("By"),
		metric.WithDescription("Bytes waiting in the link's queues."))
	in.queueHigh, errs[5] = m.Int64ObservableGauge("spindle.link.queue.high_water", metric.WithUnit("By"),
		metric.WithDescription("The most bytes that ever waited in the link's queues."))
	in.chunks, errs[6] = m.Int64ObservableGauge("spindle.link.chunks.in_flight", metric.WithUnit("{frame}"),
		metric.WithDescription("Chunked frames the peer has begun and not ended."))
	in.rtt, errs[7] = m.Float64ObservableGauge("spindle.link.rtt", metric.WithUnit("s"),
		metric.WithDescription("The last heartbeat round trip of the link."))
	in.srtt, errs[8] = m.Float64ObservableGauge("spindle.link.rtt.smoothed", metric.WithUnit("s"),
		metric.WithDescription("The smoothed heartbeat round trip of the link (EWMA, 1/8)."))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("otelmetrics: %w", err)
		}
	}
	self := []attribute.KeyValue{AttrContextID.Int64(int64(n.ID())), AttrContext.String(n.Name())}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range n.LinkStats() {
			in.observe(o, self, s)
		}
		return nil
	}, in.frames, in.bytes, in.dead, in.dropped, in.queue, in.queueHigh, in.chunks, in.rtt, in.srtt)
	if err != nil {
		return nil, fmt.Errorf("otelmetrics: %w", err)
	}
	sub := n.System().EventStream.Subscribe(func(evt any) {
		if d, ok := evt.(*actors.ContextDown); ok && d.Reason != nil {
			down.Add(context.Background(), 1, metric.WithAttributes(append(self[:len(self):len(self)],
				AttrDeadCode.String(d.Reason.Code.String()), AttrDeadCause.String(d.Reason.Cause.String()))...))
		}
	})
	return &Registration{n: n, reg: reg, sub: sub}, nil
}

// observe observes one link's snapshot.
func (in *instruments) observe(o metric.Observer, self []attribute.KeyValue, s actors.LinkStats) {
	role := "child"
	if s.IsParent {
		role = "parent"
	}
	base := append(append(make([]attribute.KeyValue, 0, len(self)+4), self...),
		AttrPeerID.Int64(int64(s.Peer)), AttrPeerName.String(s.Name), AttrLinkRole.String(role))
	link := metric.WithAttributes(base...)
	rx := metric.WithAttributes(append(base, AttrDirection.String("receive"))...)
	tx := metric.WithAttributes(append(base, AttrDirection.String("transmit"))...)
	o.ObserveInt64(in.frames, i64(s.FramesIn), rx)
	o.ObserveInt64(in.frames, i64(s.FramesOut), tx)
	o.ObserveInt64(in.bytes, i64(s.BytesIn), rx)
	o.ObserveInt64(in.bytes, i64(s.BytesOut), tx)
	o.ObserveInt64(in.dead, i64(s.DeadIn), rx)
	o.ObserveInt64(in.dead, i64(s.DeadOut), tx)
	o.ObserveInt64(in.dropped, i64(s.Dropped), link)
	o.ObserveInt64(in.queue, i64(s.QueueBytes), link)
	o.ObserveInt64(in.queueHigh, i64(s.QueueHigh), link)
	o.ObserveInt64(in.chunks, s.ChunksInFlight, link)
	o.ObserveFloat64(in.rtt, s.RTT.Seconds(), link)
	o.ObserveFloat64(in.srtt, s.RTTSmoothed.Seconds(), link)
}

// i64 converts a counter to an observation, saturating.
func i64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
