package introspect

import (
	"errors"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/wire"
)

// TestQuery_OnlyFromAncestors: a TREE_QUERY whose source is a sibling, a
// descendant or an unknown context is dropped before any work starts;
// one from the parent or the root is served.
func TestQuery_OnlyFromAncestors(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Setup: Setup, Children: []actorstest.Shape{
		{Name: "a", Children: []actorstest.Shape{{Name: "a1", Children: []actorstest.Shape{{Name: "a11"}}}}},
		{Name: "b"},
	}})
	s := serviceOf(tr.Node("a1"))
	body := encode(query{ID: 1, BudgetMS: 1, MaxRows: 10})
	frame := func(src uint32) wire.Frame {
		return wire.Frame{Raw: wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindTreeQuery, Dst: s.n.ID(), Src: src, Auth: src}, nil, body)}
	}
	for name, src := range map[string]uint32{"sibling of the parent": tr.Context("b").ID(), "child": tr.Context("a11").ID(), "itself": s.n.ID(), "unknown": 9999} {
		if err := s.onQuery(frame(src)); err != nil || s.serving.Load() != 0 {
			t.Fatalf("query from the %s: err %v, serving %d", name, err, s.serving.Load())
		}
	}
	for _, src := range []uint32{tr.Context("a").ID(), 0} {
		if err := s.onQuery(frame(src)); err != nil {
			t.Fatal(err)
		}
		if s.serving.Load() == 0 {
			s.wg.Wait() // it may be done already; it must have started
		}
	}
	s.wg.Wait()
}

// FuzzCheck: any reply body decodes or fails without panicking, and the
// checked rows keep the bounds.
func FuzzCheck(f *testing.F) {
	f.Add(encode(reply{ID: 1, Rows: []row{{ID: 7, State: StateUp}, {ID: 8, Parent: 7, State: StateUp}}}))
	f.Add(encode(reply{ID: 1, Rows: []row{{ID: 7, State: "x", Links: make([]linkRow, 3)}}}))
	f.Add([]byte{0x82, 0xa1, 'i', 0x01, 0xa1, 'r', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := decodeReply(b)
		if err != nil {
			return
		}
		out := check(row{ID: 7}, rep.Rows, 5, func(id uint32) bool { return id%2 == 0 })
		if len(out) == 0 || len(out) > 5 || out[0].ID != 7 {
			t.Fatalf("checked rows %+v", out)
		}
		for _, r := range out {
			if len(r.Name) > MaxString || len(r.Links) > MaxLinks || !knownState(r.State) {
				t.Fatalf("row out of bounds: %+v", r)
			}
		}
	})
}

// TestReply_OnlyFromTheChildAsked: a TREE_REPLY for a query in flight is
// taken only from the child it was sent to; one from another context, or
// for no query in flight, is dropped. An Undeliverable naming the query
// fails it at once (no wait for the deadline).
func TestReply_OnlyFromTheChildAsked(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Setup: Setup, Children: []actorstest.Shape{{Name: "a"}, {Name: "b"}}})
	s := serviceOf(tr.Root())
	a, b := tr.Context("a").ID(), tr.Context("b").ID()
	asked1 := &asked{child: a, done: make(chan answer, 1)}
	s.mu.Lock()
	s.pending[41] = asked1
	s.mu.Unlock()
	frame := func(src uint32, id uint64) wire.Frame {
		body := encode(reply{ID: id, Rows: []row{{ID: src, State: StateUp}}})
		return wire.Frame{Raw: wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindTreeReply, Dst: 0, Src: src, Auth: src}, nil, body)}
	}
	for _, f := range []wire.Frame{frame(b, 41), frame(a, 42)} {
		if err := s.onReply(f); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ans := <-asked1.done:
		t.Fatalf("took an answer from the wrong context or query: %+v", ans)
	default:
	}
	if err := s.onReply(frame(a, 41)); err != nil {
		t.Fatal(err)
	}
	if ans := <-asked1.done; ans.err != nil || len(ans.body) == 0 {
		t.Fatalf("the child's answer: %+v", ans)
	}

	asked2 := &asked{child: b, done: make(chan answer, 1)}
	s.mu.Lock()
	s.pending[43] = asked2
	s.mu.Unlock()
	s.onEvent(&actors.Undeliverable{Sender: actor.NewPID(tr.Root().Address(), senderPrefix+"43"), Err: actors.ErrNoRoute})
	if ans := <-asked2.done; !errors.Is(ans.err, actors.ErrNoRoute) {
		t.Fatalf("undeliverable query: %+v", ans)
	}
	s.mu.Lock()
	delete(s.pending, 41)
	delete(s.pending, 43)
	s.mu.Unlock()
}
