package actors

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/spindle-go/spindle/actors/internal/route"
	"github.com/spindle-go/spindle/wire"
)

// logRecord is the body of a FORWARD_LOG frame.
type logRecord struct {
	Level int
	Msg   string
	Attrs []string // key, value, key, value ...
}

// ForwardHandler is a slog.Handler for child contexts: records at or above
// its level travel to the root as FORWARD_LOG frames and are logged there
// with the originating context's ctx and ctx_id attached (Mitogen's log
// forwarding), taken from the frame's verified source, not from the record.
// Before Attach, or when the link is gone, records go to the fallback.
// ForwardHandler is safe for concurrent use.
type ForwardHandler struct {
	st     *forwardState
	prefix string      // group prefix for attribute keys
	attrs  []slog.Attr // attributes added with WithAttrs, already prefixed
}

type forwardState struct {
	node     atomic.Pointer[Node]
	level    slog.Leveler
	fallback slog.Handler
}

// NewForwardHandler returns a handler that forwards records at or above
// level once attached to a node, and writes to fallback until then.
func NewForwardHandler(level slog.Leveler, fallback slog.Handler) *ForwardHandler {
	return &ForwardHandler{st: &forwardState{level: level, fallback: fallback}}
}

// Attach starts forwarding through n's parent link.
func (h *ForwardHandler) Attach(n *Node) { h.st.node.Store(n) }

func (h *ForwardHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.st.level.Level()
}

func (h *ForwardHandler) Handle(ctx context.Context, r slog.Record) error {
	n := h.st.node.Load()
	if n == nil || len(n.parents) == 0 {
		return h.fallback().Handle(ctx, r)
	}
	rec := logRecord{Level: int(r.Level), Msg: r.Message}
	for _, a := range h.attrs {
		rec.Attrs = appendAttr(rec.Attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs = appendAttr(rec.Attrs, h.prefix, a)
		return true
	})
	rec.bound()
	body, err := wire.Marshal(&rec)
	if err != nil {
		return err
	}
	// Records go to the root, forwarded by header through intermediate
	// contexts, so the root can name their origin from the frame's source.
	if err := n.sendFrame(wire.FrameSpec{Kind: wire.KindForwardLog, Dst: 0, Src: n.id, Auth: n.id}, nil, body); err != nil {
		return h.fallback().Handle(ctx, r)
	}
	return nil
}

func (h *ForwardHandler) fallback() slog.Handler {
	fb := h.st.fallback
	if len(h.attrs) > 0 {
		fb = fb.WithAttrs(h.attrs)
	}
	return fb
}

func (h *ForwardHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *ForwardHandler) WithGroup(g string) slog.Handler {
	if g == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + g + "."
	return &c
}

func appendAttr(dst []string, prefix string, a slog.Attr) []string {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, g := range a.Value.Group() {
			dst = appendAttr(dst, p, g)
		}
		return dst
	}
	if a.Key == "" {
		return dst
	}
	return append(dst, prefix+a.Key, a.Value.String())
}

// Bounds of a forwarded log record: longer messages, keys and values are
// cut (and the record marked truncated=true), attributes past the limit
// dropped. Both the sender and the root apply them.
const (
	maxLogMsg   = 8 << 10
	maxLogAttrs = 64 // key/value pairs
	maxLogKey   = 128
	maxLogValue = 4 << 10
)

// bound cuts rec to the bounds above; it reports whether it cut anything.
func (rec *logRecord) bound() bool {
	cut := false
	if len(rec.Msg) > maxLogMsg {
		rec.Msg, cut = route.Bound(rec.Msg, maxLogMsg), true
	}
	if len(rec.Attrs) > 2*maxLogAttrs {
		rec.Attrs, cut = rec.Attrs[:2*maxLogAttrs], true
	}
	for i := range rec.Attrs {
		max := maxLogValue
		if i%2 == 0 {
			max = maxLogKey
		}
		if len(rec.Attrs[i]) > max {
			rec.Attrs[i], cut = route.Bound(rec.Attrs[i], max), true
		}
	}
	if cut {
		rec.Attrs = append(rec.Attrs[:len(rec.Attrs)&^1], "truncated", "true")
	}
	return cut
}

// onForwardLog logs a record forwarded by a descendant through the
// configured logger, with ctx and ctx_id naming the frame's source (which
// passed the reverse-path check); ctx attributes in the body are dropped.
// Records are bounded in size, and in rate per child link (Quotas.LogRate):
// the excess is dropped, and counted in the next record logged.
func (n *Node) onForwardLog(l *link, f wire.Frame) error {
	var rec logRecord
	if err := wire.Unmarshal(f.Body(), &rec); err != nil {
		return &ProtocolError{Err: err}
	}
	var dropped uint64
	if !l.isParent {
		n.mu.Lock()
		var err error
		dropped, err = n.rt.AllowLog(l.peer, n.now())
		n.mu.Unlock()
		if err != nil {
			if dropped == 1 { // the first of a run of drops
				n.quotaExceeded(l, route.TripLogs, wire.KindForwardLog, err)
			}
			return nil
		}
	}
	rec.bound()
	src := f.Header().Src()
	attrs := make([]slog.Attr, 0, len(rec.Attrs)/2+3)
	attrs = append(attrs, slog.String("ctx", n.contextName(src)), slog.Uint64("ctx_id", uint64(src)))
	if dropped > 0 {
		attrs = append(attrs, slog.Uint64("dropped_before", dropped))
	}
	for i := 0; i+1 < len(rec.Attrs); i += 2 {
		if k := rec.Attrs[i]; k == "ctx" || k == "ctx_id" {
			continue
		}
		attrs = append(attrs, slog.String(rec.Attrs[i], rec.Attrs[i+1]))
	}
	n.cfg.Logger.LogAttrs(context.Background(), slog.Level(rec.Level), rec.Msg, attrs...)
	return nil
}
