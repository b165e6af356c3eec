package actors

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/spindle-go/spindle/wire"
)

// logRecord is the body of a FORWARD_LOG frame.
type logRecord struct {
	Level int
	Msg   string
	Attrs []string // key, value, key, value ...
}

// ForwardHandler is a slog.Handler for child contexts: records at or above
// its level travel to the parent as FORWARD_LOG frames and are logged there
// with the child's ctx and ctx_id attached (Mitogen's log forwarding). Before
// Attach, or when the parent link is gone, records go to the fallback.
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
	body, err := wire.Marshal(&rec)
	if err != nil {
		return err
	}
	parent := n.parents[len(n.parents)-1]
	if err := n.sendFrame(wire.FrameSpec{Kind: wire.KindForwardLog, Dst: parent, Src: n.id, Auth: n.id}, nil, body); err != nil {
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

// onForwardLog re-logs a record forwarded by a child. It goes through the
// configured logger (not the node's, which would add this context's ctx
// attributes over the origin's), so in an intermediate context it travels
// on up.
func (n *Node) onForwardLog(l *link, f wire.Frame) error {
	if l.isParent {
		return nil
	}
	var rec logRecord
	if err := wire.Unmarshal(f.Body(), &rec); err != nil {
		return &ProtocolError{Err: err}
	}
	attrs := make([]slog.Attr, 0, len(rec.Attrs)/2)
	for i := 0; i+1 < len(rec.Attrs); i += 2 {
		attrs = append(attrs, slog.String(rec.Attrs[i], rec.Attrs[i+1]))
	}
	n.cfg.Logger.LogAttrs(context.Background(), slog.Level(rec.Level), rec.Msg, attrs...)
	return nil
}
