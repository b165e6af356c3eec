package actors_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/spindle-go/spindle/actors"
)

// forwardingChild attaches a child whose logger is a ForwardHandler
// attached to it; it returns the child and the store of the handler's
// fallback.
func forwardingChild(t *testing.T, parent *actors.Node, name string, level slog.Level) (*child, *slog.Logger, *logStore) {
	t.Helper()
	fallback := newLogStore(t)
	fwd := actors.NewForwardHandler(level, fallback.handler())
	logger := slog.New(fwd)
	c := attach(t, parent, name, actors.Config{Logger: logger})
	fwd.Attach(c.node)
	return c, logger, fallback
}

// TestForwardHandler_ToRoot: a child's log records reach the root's logger
// with the child's ctx attached; records below the level stay behind.
func TestForwardHandler_ToRoot(t *testing.T) {
	rootLogs := newLogStore(t)
	root := newRoot(t, actors.Config{Logger: rootLogs.logger()})
	c, _, fallback := forwardingChild(t, root, "web-3", slog.LevelInfo)
	id := fmt.Sprint(c.link.ID)

	log := c.node.Logger()
	log.Debug("too quiet", "k", "v")
	log.Info("hello", "user", "alice", "n", 42)
	log.WithGroup("req").Warn("grouped", "path", "/x")
	log.With("component", "db").Error("with attrs", slog.Group("q", slog.Int("rows", 3)))
	log.Info("marker")

	rootLogs.wait(t, waitLong, `"marker"`, func(r logRec) bool { return r.msg == "marker" })
	tests := []struct {
		msg   string
		level slog.Level
		attrs map[string]string
	}{
		{"hello", slog.LevelInfo, map[string]string{"ctx": "web-3", "ctx_id": id, "user": "alice", "n": "42"}},
		{"grouped", slog.LevelWarn, map[string]string{"ctx": "web-3", "req.path": "/x"}},
		{"with attrs", slog.LevelError, map[string]string{"ctx": "web-3", "component": "db", "q.rows": "3"}},
	}
	for _, tt := range tests {
		r, ok := rootLogs.find(func(r logRec) bool { return r.msg == tt.msg })
		if !ok {
			t.Errorf("root did not log %q", tt.msg)
			continue
		}
		if r.level != tt.level {
			t.Errorf("%q: level %v, want %v", tt.msg, r.level, tt.level)
		}
		for k, v := range tt.attrs {
			if r.attrs[k] != v {
				t.Errorf("%q: attr %s=%q, want %q (record: %s)", tt.msg, k, r.attrs[k], v, r)
			}
		}
	}
	if r, ok := rootLogs.find(func(r logRec) bool { return r.msg == "too quiet" }); ok {
		t.Errorf("a record below the level was forwarded: %s", r)
	}
	if r, ok := fallback.find(func(r logRec) bool { return r.msg == "hello" }); ok {
		t.Errorf("forwarded record also went to the fallback: %s", r)
	}
}

// TestForwardHandler_DirectLoggerCarriesContext: records logged through
// the configured logger itself (not Node.Logger) are, as ForwardHandler's
// doc promises, "logged there with the child's ctx and ctx_id attached".
func TestForwardHandler_DirectLoggerCarriesContext(t *testing.T) {
	rootLogs := newLogStore(t)
	root := newRoot(t, actors.Config{Logger: rootLogs.logger()})
	c, logger, _ := forwardingChild(t, root, "web-4", slog.LevelInfo)
	logger.Info("direct", "k", "v")
	r := rootLogs.wait(t, waitLong, `"direct"`, func(r logRec) bool { return r.msg == "direct" })
	if r.attrs["k"] != "v" {
		t.Errorf("attr k=%q, want v", r.attrs["k"])
	}
	if r.attrs["ctx"] != "web-4" || r.attrs["ctx_id"] != fmt.Sprint(c.link.ID) {
		t.Errorf("record logged in the root without the child's ctx and ctx_id: %s", r)
	}
}

// TestForwardHandler_TwoHops: a grandchild's records travel through its
// parent (whose own logger forwards) to the root, keeping the origin's ctx.
func TestForwardHandler_TwoHops(t *testing.T) {
	rootLogs := newLogStore(t)
	root := newRoot(t, actors.Config{Logger: rootLogs.logger()})
	mid, _, _ := forwardingChild(t, root, "mid", slog.LevelInfo)
	leaf, _, _ := forwardingChild(t, mid.node, "leaf", slog.LevelInfo)
	leaf.node.Logger().Info("from the leaf", "k", "v")
	r := rootLogs.wait(t, waitLong, `"from the leaf"`, func(r logRec) bool { return r.msg == "from the leaf" })
	if r.attrs["ctx"] != "leaf" || r.attrs["ctx_id"] != fmt.Sprint(leaf.link.ID) || r.attrs["k"] != "v" {
		t.Errorf("root logged %s, want ctx=leaf ctx_id=%d k=v", r, leaf.link.ID)
	}
}

// TestForwardHandler_Fallback: before Attach, and in a root, records go to
// the fallback handler.
func TestForwardHandler_Fallback(t *testing.T) {
	fallback := newLogStore(t)
	fwd := actors.NewForwardHandler(slog.LevelInfo, fallback.handler())
	slog.New(fwd).With("a", "1").Info("early", "b", "2")
	r, ok := fallback.find(func(r logRec) bool { return r.msg == "early" })
	if !ok || r.attrs["a"] != "1" || r.attrs["b"] != "2" {
		t.Fatalf("fallback got %v %s, want early a=1 b=2", ok, r)
	}
	// A root has no parent to forward to.
	root := newRoot(t, actors.Config{Logger: slog.New(fwd)})
	fwd.Attach(root)
	slog.New(fwd).Info("in root")
	if _, ok := fallback.find(func(r logRec) bool { return r.msg == "in root" }); !ok {
		t.Error("record in a root did not reach the fallback")
	}
	if fwd.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Enabled(Debug) with level Info")
	}
}
