package actors_test

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRec is one captured slog record with its attributes flattened
// ("group.key" -> value), including those added with WithAttrs.
type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r logRec) String() string {
	keys := make([]string, 0, len(r.attrs))
	for k := range r.attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(r.level.String() + " " + r.msg)
	for _, k := range keys {
		b.WriteString(" " + k + "=" + r.attrs[k])
	}
	return b.String()
}

// logStore collects records from every handler derived from it. Records are
// never written to t.Log from the handler (nodes log from their own
// goroutines, possibly after the test ended); they are dumped when the test
// has failed.
type logStore struct {
	mu     sync.Mutex
	recs   []logRec
	signal chan struct{}
}

func newLogStore(t testing.TB) *logStore {
	s := &logStore{signal: make(chan struct{}, 1)}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		s.mu.Lock()
		recs := append([]logRec(nil), s.recs...)
		s.mu.Unlock()
		if len(recs) > 200 {
			recs = recs[len(recs)-200:]
		}
		for _, r := range recs {
			t.Log("log: " + r.String())
		}
	})
	return s
}

func (s *logStore) logger() *slog.Logger { return slog.New(s.handler()) }

func (s *logStore) handler() slog.Handler { return &captureHandler{st: s, level: slog.LevelDebug} }

func (s *logStore) add(r logRec) {
	s.mu.Lock()
	s.recs = append(s.recs, r)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *logStore) find(pred func(logRec) bool) (logRec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if pred(r) {
			return r, true
		}
	}
	return logRec{}, false
}

// wait returns the first record matching pred, waiting up to d for it.
func (s *logStore) wait(t testing.TB, d time.Duration, what string, pred func(logRec) bool) logRec {
	t.Helper()
	deadline := time.After(d)
	for {
		if r, ok := s.find(pred); ok {
			return r
		}
		select {
		case <-s.signal:
		case <-deadline:
			t.Fatalf("no log record %s within %v", what, d)
		}
	}
}

// captureHandler is a slog.Handler writing into a logStore.
type captureHandler struct {
	st     *logStore
	level  slog.Level
	prefix string
	attrs  map[string]string
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRec{level: r.Level, msg: r.Message, attrs: make(map[string]string, len(h.attrs)+r.NumAttrs())}
	for k, v := range h.attrs {
		rec.attrs[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(rec.attrs, h.prefix, a)
		return true
	})
	h.st.add(rec)
	return nil
}

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = make(map[string]string, len(h.attrs)+len(as))
	for k, v := range h.attrs {
		c.attrs[k] = v
	}
	for _, a := range as {
		flatten(c.attrs, h.prefix, a)
	}
	return &c
}

func (h *captureHandler) WithGroup(g string) slog.Handler {
	if g == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + g + "."
	return &c
}

func flatten(dst map[string]string, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, g := range a.Value.Group() {
			flatten(dst, p, g)
		}
		return
	}
	if a.Key != "" {
		dst[prefix+a.Key] = a.Value.String()
	}
}
