package actors

import "testing"

// TestTracker_EmptyReplySetsBounded: a context keeps its empty set of
// awaited replies between requests (no map per request), for at most
// keepEmptySets contexts; an empty set never counts as awaited, and a
// context's death removes its set.
func TestTracker_EmptyReplySetsBounded(t *testing.T) {
	var tr tracker
	tr.init()
	for ctx := uint32(1); ctx <= 4*keepEmptySets; ctx++ {
		for i := range 3 {
			r := &reply{id: newReplyID(), ctx: ctx}
			if err := tr.addReply(r, true); err != nil {
				t.Fatal(err)
			}
			if len(tr.byCtx[ctx]) != 1 {
				t.Fatalf("context %d, request %d: %d awaited replies, want 1", ctx, i, len(tr.byCtx[ctx]))
			}
			tr.dropReply(r)
		}
		if len(tr.byCtx) > keepEmptySets {
			t.Fatalf("%d reply sets kept after %d contexts, want at most %d", len(tr.byCtx), ctx, keepEmptySets)
		}
	}
	if ids := tr.awaited(); len(ids) != 0 {
		t.Errorf("awaited %v with no reply pending", ids)
	}
	pending := &reply{id: newReplyID(), ctx: 7, ch: make(chan replyResult, 1)}
	if err := tr.addReply(pending, true); err != nil {
		t.Fatal(err)
	}
	if ids := tr.awaited(); len(ids) != 1 || ids[0] != 7 {
		t.Errorf("awaited %v, want [7]", ids)
	}
	var n Node
	n.track.init()
	for id := range tr.byCtx {
		tr.contextDown(&n, id, &DeadError{Context: id})
	}
	if len(tr.byCtx) != 0 {
		t.Errorf("%d reply sets left after every context died", len(tr.byCtx))
	}
	if _, err := pending.wait(t.Context()); err == nil {
		t.Error("the pending request did not fail with its context")
	}
}
