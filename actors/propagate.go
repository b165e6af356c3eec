package actors

import (
	"context"
	"reflect"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/wire"
)

// Propagator carries values of a context.Context (a trace context: W3C
// traceparent and tracestate) from a caller to its callee in the key/value
// block of the frames that the context-taking sends write: Node.Request,
// Node.SendContext and Node.SendKindContext (so calls.Call,
// calls.CallService and what calls.Go runs). On the receiving side a
// calls handler's ctx carries them; an actor rebuilds them from its
// message's headers with Node.ExtractContext; a KindHandler with
// Node.FrameHeaders and Node.ExtractContext.
//
// The core knows nothing of what the headers mean: actors/oteltrace
// implements Propagator with OpenTelemetry's propagators. Install one with
// Config.Propagator or Node.SetPropagator in Config.Setup (which runs in
// every context of a tree, the children that spawn.Main starts included).
// With none (the default) nothing is added to any frame and the sends cost
// one pointer load more.
//
// A Propagator must be safe for concurrent use. Inject runs on every
// context-taking send, so it must be cheap when ctx carries nothing; it
// must depend on ctx's values only: its result is reused for the next
// sends with the same ctx (the node keeps that one ctx until a send with
// another).
type Propagator interface {
	// Inject sets in h the headers that carry ctx's values.
	Inject(ctx context.Context, h *Headers)
	// Extract returns ctx with the values that h carries. h holds only
	// Fields, each within the bounds of Headers; what it holds came from
	// another context and may be hostile: Extract must ignore what it
	// cannot parse.
	Extract(ctx context.Context, h *Headers) context.Context
	// Fields are the header keys Inject sets and Extract reads (W3C
	// trace context: "traceparent", "tracestate"). Only these are taken
	// from a frame, at most MaxPropagated of them.
	Fields() []string
}

// Bounds of the headers a Propagator sets and reads, whichever side wrote
// them: a pair beyond them is left out (not sent, not read), never an
// error. They bound what a hostile context can make a callee hold and
// parse per call: MaxPropagated × (wire.MaxKeyLen + MaxPropagatedValue).
const (
	MaxPropagated      = 8    // headers in one Headers
	MaxPropagatedValue = 1024 // bytes of one value (a traceparent is 55)
)

// Headers is a small bounded set of propagated headers: at most
// MaxPropagated pairs, keys of 1..wire.MaxKeyLen bytes, non-empty values
// of at most MaxPropagatedValue bytes. Set leaves out a pair beyond those
// bounds. It has the methods of OpenTelemetry's TextMapCarrier. The zero
// value is empty and ready to use; a nil *Headers is empty. A Headers is
// not safe for concurrent use.
type Headers struct {
	kv []string // key, value, key, value, ...
}

// Get returns the value of key, "" when there is none.
func (h *Headers) Get(key string) string {
	if h == nil {
		return ""
	}
	for i := 0; i < len(h.kv); i += 2 {
		if h.kv[i] == key {
			return h.kv[i+1]
		}
	}
	return ""
}

// Set sets key to value, replacing an earlier value; a pair beyond the
// bounds (or an empty value) is left out.
func (h *Headers) Set(key, value string) {
	if len(key) == 0 || len(key) > wire.MaxKeyLen || len(value) == 0 || len(value) > MaxPropagatedValue {
		return
	}
	for i := 0; i < len(h.kv); i += 2 {
		if h.kv[i] == key {
			h.kv[i+1] = value
			return
		}
	}
	if len(h.kv) < 2*MaxPropagated {
		h.kv = append(h.kv, key, value)
	}
}

// Keys returns the keys, in the order they were set.
func (h *Headers) Keys() []string {
	if h == nil {
		return nil
	}
	keys := make([]string, 0, len(h.kv)/2)
	for i := 0; i < len(h.kv); i += 2 {
		keys = append(keys, h.kv[i])
	}
	return keys
}

// Len returns the number of headers.
func (h *Headers) Len() int {
	if h == nil {
		return 0
	}
	return len(h.kv) / 2
}

// HeaderSource is what Node.ExtractContext reads headers from: a *Headers,
// an actor's message headers (actor.Context.MessageHeader()), OTel's
// MapCarrier, ...
type HeaderSource interface {
	Get(key string) string
}

// propagation is an installed Propagator and its Fields.
type propagation struct {
	p      Propagator
	fields []string
	// last is the injection of the last ctx Inject was called for, reused
	// while the sends go on with the same ctx (a loop of sends under one
	// span): one pointer compare instead of an Inject and an encoding.
	last atomic.Pointer[injected]
}

// injected is what a Propagator set for one ctx: the headers and their kv
// block. Shared: never modified once made.
type injected struct {
	ctx context.Context
	h   *Headers
	kv  []byte
}

// SetPropagator installs p (nil removes it) as Config.Propagator does. Call
// it in Config.Setup, so that every context of the tree has it; it is safe
// for concurrent use, and sends that run meanwhile may or may not use p.
func (n *Node) SetPropagator(p Propagator) {
	n.prop.Store(newPropagation(p))
}

func newPropagation(p Propagator) *propagation {
	if p == nil {
		return nil
	}
	f := p.Fields()
	f = append([]string(nil), f[:min(len(f), MaxPropagated)]...)
	return &propagation{p: p, fields: f}
}

// Propagate returns the headers the node's Propagator sets for ctx; nil
// when there is no Propagator or it sets none.
func (n *Node) Propagate(ctx context.Context) *Headers {
	pr := n.prop.Load()
	if pr == nil {
		return nil
	}
	in := pr.inject(ctx)
	if in == nil {
		return nil
	}
	return &Headers{kv: append([]string(nil), in.h.kv...)}
}

// inject returns what pr's Propagator sets for ctx, nil for nothing. The
// last result is reused for the same ctx (a comparable one: contexts are
// pointers but for exotic implementations), since a context's values
// never change.
func (pr *propagation) inject(ctx context.Context) *injected {
	cacheable := ctx != nil && reflect.TypeOf(ctx).Comparable()
	if l := pr.last.Load(); l != nil && cacheable && l.ctx == ctx {
		if l.h == nil {
			return nil // ctx carries nothing
		}
		return l
	}
	var h Headers
	pr.p.Inject(ctx, &h)
	var in *injected
	if h.Len() > 0 {
		kv, err := wire.AppendKV(nil, h.toMap())
		if err != nil { // not reached: Headers keeps to the bounds of a kv block
			return nil
		}
		in = &injected{h: &h, kv: kv}
	}
	if cacheable {
		l := in
		if l == nil {
			l = &injected{}
		}
		l.ctx = ctx
		pr.last.Store(l)
	}
	if in == nil || in.h == nil {
		return nil
	}
	return in
}

// ExtractContext returns ctx with the values that src's propagated headers
// carry (a remote span context), through the node's Propagator: only its
// Fields are read, each within the bounds of Headers. It returns ctx
// itself when there is no Propagator or src carries none of them. An
// actor calls it with its message's headers:
//
//	ctx := node.ExtractContext(context.Background(), c.MessageHeader())
func (n *Node) ExtractContext(ctx context.Context, src HeaderSource) context.Context {
	pr := n.prop.Load()
	if pr == nil || src == nil {
		return ctx
	}
	h := new(Headers)
	for _, k := range pr.fields {
		h.Set(k, src.Get(k))
	}
	if h.Len() == 0 {
		return ctx
	}
	return pr.p.Extract(ctx, h)
}

// FrameHeaders returns the headers of f's key/value block that the node's
// Propagator reads (its Fields, within the bounds of Headers), for a
// KindHandler to pass to ExtractContext; nil when there is no Propagator
// or f carries none. A malformed block yields nil: the frame's kind, not
// its headers, decides whether the frame is good. It never keeps f's
// bytes (the values are copies).
func (n *Node) FrameHeaders(f wire.Frame) *Headers {
	pr := n.prop.Load()
	if pr == nil || f.Header().KVLen() == 0 {
		return nil
	}
	var h Headers
	err := wire.RangeKV(f.KV(), func(k, v []byte) bool {
		for _, want := range pr.fields {
			if string(k) == want {
				h.Set(want, string(v))
			}
		}
		return true
	})
	if err != nil || h.Len() == 0 {
		return nil
	}
	return &h
}

// kvBlock returns the kv block of the headers pr sets for ctx (shared:
// not to be modified); nil for none.
func (pr *propagation) kvBlock(ctx context.Context) []byte {
	if in := pr.inject(ctx); in != nil {
		return in.kv
	}
	return nil
}

func (h *Headers) toMap() map[string]string {
	m := make(map[string]string, h.Len())
	for i := 0; i < len(h.kv); i += 2 {
		m[h.kv[i]] = h.kv[i+1]
	}
	return m
}

// withPropagated returns msg with the headers pr sets for ctx added to its
// envelope's (a copy: the caller's envelope and header map are not
// changed); headers the caller set itself are kept. msg itself when pr
// sets none.
func (pr *propagation) withPropagated(ctx context.Context, msg any) any {
	in := pr.inject(ctx)
	if in == nil {
		return msg
	}
	h := in.h
	hdr, m, sender := actor.UnwrapEnvelope(msg)
	env := &actor.MessageEnvelope{Message: m, Sender: sender, Header: make(map[string]string, h.Len())}
	if hdr != nil {
		for _, k := range hdr.Keys() {
			env.Header[k] = hdr.Get(k)
		}
	}
	for i := 0; i < len(h.kv); i += 2 {
		if _, set := env.Header[h.kv[i]]; !set {
			env.Header[h.kv[i]] = h.kv[i+1]
		}
	}
	return env
}

// mergeInto adds in's headers to m where m has no value for their key.
func (in *injected) mergeInto(m map[string]string) {
	for i := 0; i < len(in.h.kv); i += 2 {
		if _, set := m[in.h.kv[i]]; !set {
			m[in.h.kv[i]] = in.h.kv[i+1]
		}
	}
}
