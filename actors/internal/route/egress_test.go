package route

import (
	"fmt"
	"slices"
	"testing"

	"github.com/spindle-go/spindle/wire"
)

// egressTree is tree(t) with 21 routed behind 9.
func egressTree(t *testing.T, lim Limits) *Table {
	t.Helper()
	tb := New(5, "mid", []uint32{0, 2}, lim)
	tb.ParentUp(2)
	tb.AddChild(7, "a")
	tb.AddChild(9, "b")
	tb.Grant(10, 10, 7)
	tb.Grant(20, 10, 9)
	tb.AddRoutes(7, []uint32{11}, nil)
	tb.AddRoutes(9, []uint32{21}, nil)
	return tb
}

func updatesString(us []Update) string {
	s := ""
	for _, u := range us {
		if u.Link.IsParent() {
			s += fmt.Sprintf("parent%v ", u.IDs)
		} else {
			c, _ := u.Link.ChildID()
			s += fmt.Sprintf("child%d%v ", c, u.IDs)
		}
	}
	return s
}

// TestEgress_ScopedDelRoutes: a death goes up always, and down only to
// the child links whose subtrees talked with the dead.
func TestEgress_ScopedDelRoutes(t *testing.T) {
	tb := egressTree(t, Limits{})
	kids := []uint32{7, 9}
	// 21 (behind 9) sends to 11 (behind 7): a record on 9 for 11, on 7 for 21.
	tb.NoteTalk(Child(9), 11)
	tb.NoteTalk(Child(7), 21)
	// 99 (through the parent) sends to 21: a record on 9 for 99.
	tb.NoteTalk(Child(9), 99)
	for _, c := range []struct {
		name string
		from Link
		ids  []uint32
		want string
	}{
		{"a context behind 7 died: up, and to 9 which talked to it", Child(7), []uint32{11}, "parent[11] child9[11] "},
		{"a stranger nobody here talked to died: nothing down", Parent, []uint32{50}, ""},
		{"the stranger 9 talked to died", Parent, []uint32{99}, "child9[99] "},
		{"it died again: records are freed", Parent, []uint32{99}, ""},
		{"21 died: 7 talked to it", Child(9), []uint32{21}, "parent[21] child7[21] "},
	} {
		tb.MarkDead(c.ids, Dead{Code: wire.DeadUnreachable})
		if got := updatesString(tb.DelRoutes(c.from, c.ids, kids)); got != c.want {
			t.Errorf("%s: DelRoutes = %q, want %q", c.name, got, c.want)
		}
	}
	if len(tb.talkers) != 0 || tb.EgressCount(7) != 0 || tb.EgressCount(9) != 0 {
		t.Fatalf("records left after every recorded context died: %v, %d, %d", tb.talkers, tb.EgressCount(7), tb.EgressCount(9))
	}
}

// TestEgress_NoRecordNeeded: no record for this context, its ancestors
// (their death ends the link anyway), the link's own subtree, the dead,
// or on the parent link.
func TestEgress_NoRecordNeeded(t *testing.T) {
	tb := egressTree(t, Limits{})
	tb.MarkDead([]uint32{40}, Dead{})
	for _, id := range []uint32{5, 0, 2, 9, 21, 40} {
		if !tb.Talked(Child(9), id) {
			t.Errorf("Talked(9, %d) = false: a record would be made", id)
		}
		tb.NoteTalk(Child(9), id)
	}
	tb.NoteTalk(Parent, 99)
	tb.NoteTalk(Child(77), 99) // no such link
	if tb.EgressCount(9) != 0 || len(tb.talkers) != 0 || len(tb.egress) != 0 {
		t.Fatalf("records made: %d on 9, talkers %v, links %v", tb.EgressCount(9), tb.talkers, tb.egress)
	}
	if tb.Talked(Child(9), 99) {
		t.Fatal("Talked(9, 99) before any record")
	}
}

// TestEgress_FloodBeyondBound: a link whose subtree names more contexts
// than its bound holds no records and gets every death (the fallback to
// the flood); the other links keep theirs.
func TestEgress_FloodBeyondBound(t *testing.T) {
	const bound = 4
	tb := egressTree(t, Limits{EgressIDs: bound})
	tb.NoteTalk(Child(7), 21)
	for id := uint32(1000); id < 1000+bound; id++ {
		tb.NoteTalk(Child(9), id)
	}
	if tb.Flooded(9) || tb.EgressCount(9) != bound {
		t.Fatalf("at the bound: flooded %v, %d records", tb.Flooded(9), tb.EgressCount(9))
	}
	for id := uint32(2000); id < 2100; id++ { // a hostile subtree names many more
		tb.NoteTalk(Child(9), id)
	}
	if !tb.Flooded(9) || tb.EgressCount(9) != 0 {
		t.Fatalf("beyond the bound: flooded %v, %d records", tb.Flooded(9), tb.EgressCount(9))
	}
	for id := range tb.talkers {
		if slices.Contains(tb.talkers[id], 9) {
			t.Fatalf("flooded link 9 still named as a talker of %d", id)
		}
	}
	if len(tb.talkers) != 1 || tb.EgressCount(7) != 1 {
		t.Fatalf("the other link's record: %v, %d", tb.talkers, tb.EgressCount(7))
	}
	tb.MarkDead([]uint32{555}, Dead{})
	if got := updatesString(tb.DelRoutes(Parent, []uint32{555}, []uint32{7, 9})); got != "child9[555] " {
		t.Fatalf("death elsewhere: %q, want it flooded to 9 only", got)
	}
	tb.MarkDead([]uint32{21}, Dead{})
	if got := updatesString(tb.DelRoutes(Child(9), []uint32{21}, []uint32{7, 9})); got != "parent[21] child7[21] " {
		t.Fatalf("death behind the flooded link: %q", got)
	}
}

// TestEgress_FloodAll: EgressIDs < 0 is the old behaviour, every death to
// every link.
func TestEgress_FloodAll(t *testing.T) {
	tb := egressTree(t, Limits{EgressIDs: -1})
	tb.NoteTalk(Child(9), 99)
	tb.MarkDead([]uint32{11}, Dead{})
	if got := updatesString(tb.DelRoutes(Child(7), []uint32{11}, []uint32{7, 9})); got != "parent[11] child9[11] " {
		t.Fatalf("DelRoutes = %q", got)
	}
	if len(tb.talkers) != 0 {
		t.Fatalf("records kept with EgressIDs < 0: %v", tb.talkers)
	}
}

// TestEgress_FreedWhenLinkGoesDown: ChildDown frees the link's records,
// and the death of a direct child frees a record made after it.
func TestEgress_FreedWhenLinkGoesDown(t *testing.T) {
	tb := egressTree(t, Limits{})
	tb.NoteTalk(Child(9), 99)
	tb.NoteTalk(Child(9), 98)
	tb.NoteTalk(Child(7), 99)
	ids := tb.ChildDown(9)
	if tb.EgressCount(9) != 0 || len(tb.talkers[98]) != 0 || !slices.Equal(tb.talkers[99], []uint32{7}) {
		t.Fatalf("after ChildDown(9): %d records, talkers %v", tb.EgressCount(9), tb.talkers)
	}
	tb.NoteTalk(Child(9), 97) // a frame forwarded while the link was going down
	tb.MarkDead(ids, Dead{})
	tb.DelRoutes(Child(9), ids, []uint32{7})
	if _, ok := tb.egress[9]; ok || len(tb.talkers[97]) != 0 {
		t.Fatalf("a dead link's record is kept: %v, talkers %v", tb.egress[9], tb.talkers)
	}
	tb.MarkDead([]uint32{99}, Dead{})
	if got := updatesString(tb.DelRoutes(Parent, []uint32{99}, []uint32{7})); got != "child7[99] " {
		t.Fatalf("DelRoutes = %q", got)
	}
}

// BenchmarkEgress_Talked is the check every forwarded frame pays (under
// the node's read lock): a frame from the parent to a child, whose source
// is an ancestor, and one between two child links, already recorded.
func BenchmarkEgress_Talked(b *testing.B) {
	tb := New(5, "mid", []uint32{0, 2}, Limits{})
	tb.ParentUp(2)
	tb.AddChild(7, "a")
	tb.AddChild(9, "b")
	tb.NoteTalk(Child(9), 7)
	b.Run("down-from-ancestor", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !tb.Talked(Parent, 7) || !tb.Talked(Child(7), 0) {
				b.Fatal("not recorded")
			}
		}
	})
	b.Run("child-to-child", func(b *testing.B) {
		tb.NoteTalk(Child(7), 9)
		for i := 0; i < b.N; i++ {
			if !tb.Talked(Child(9), 7) || !tb.Talked(Child(7), 9) {
				b.Fatal("not recorded")
			}
		}
	})
}
