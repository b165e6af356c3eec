package route

import (
	"slices"
	"testing"

	"github.com/spindle-go/spindle/wire"
)

// tree builds the table of context 5 (parents 0, 2) with children 7 and 9,
// 7 granted IDs 10..19 and 9 granted 20..29, and 11 routed behind 7.
func tree(t *testing.T) *Table {
	t.Helper()
	tb := New(5, "mid", []uint32{0, 2}, Limits{})
	tb.ParentUp(2)
	tb.AddChild(7, "a")
	tb.AddChild(9, "b")
	tb.Grant(10, 10, 7)
	tb.Grant(20, 10, 9)
	if acc, _, ref := tb.AddRoutes(7, []uint32{11}, []string{"a.1"}); !slices.Equal(acc, []uint32{11}) || len(ref) != 0 {
		t.Fatalf("AddRoutes = %v, refused %v", acc, ref)
	}
	return tb
}

func TestTable_Route(t *testing.T) {
	tb := tree(t)
	tb.MarkDead([]uint32{13}, Dead{Code: wire.DeadUnreachable, Reason: "gone"})
	for _, c := range []struct {
		id   uint32
		want Link
		ok   bool
	}{
		{5, Link{}, false},  // self
		{7, Child(7), true}, // direct child
		{11, Child(7), true},
		{9, Child(9), true},
		{0, Parent, true}, // ancestors and strangers: the default route
		{2, Parent, true},
		{99, Parent, true},
		{13, Link{}, false}, // dead
	} {
		got, ok := tb.Route(c.id)
		if got != c.want || ok != c.ok {
			t.Errorf("Route(%d) = %v, %v; want %v, %v", c.id, got, ok, c.want, c.ok)
		}
	}
	tb.ParentDown()
	if _, ok := tb.Route(99); ok {
		t.Error("Route(99) without a parent link found a route")
	}
	root := New(0, "root", nil, Limits{})
	if _, ok := root.Route(3); ok {
		t.Error("the root routed an unknown context")
	}
}

func TestTable_ReversePath(t *testing.T) {
	tb := tree(t)
	for _, c := range []struct {
		l    Link
		id   uint32
		want bool
	}{
		{Child(7), 11, true},
		{Child(7), 7, true},
		{Child(9), 11, false}, // spoofed: 11 lives behind 7
		{Child(9), 0, false},  // a child claiming to be the root
		{Parent, 0, true},
		{Parent, 7, false},
		{Parent, 5, false}, // nobody may claim to be this context
		{Link{}, 0, false},
	} {
		if got := tb.ArrivedOn(c.l, c.id); got != c.want {
			t.Errorf("ArrivedOn(%v, %d) = %v, want %v", c.l, c.id, got, c.want)
		}
	}
}

func TestTable_AddRoutes_Ungranted(t *testing.T) {
	tb := tree(t)
	// 9 announces an ID granted to 7, one routed behind 7, one nobody was
	// granted and one of its own.
	acc, names, ref := tb.AddRoutes(9, []uint32{12, 11, 500, 21}, []string{"x", "y", "z", "b.1"})
	if !slices.Equal(acc, []uint32{21}) || !slices.Equal(names, []string{"b.1"}) || !slices.Equal(ref, []uint32{12, 11, 500}) {
		t.Fatalf("AddRoutes = %v %v, refused %v", acc, names, ref)
	}
	if r, _ := tb.Route(11); r != Child(7) {
		t.Fatalf("route of 11 moved to %v", r)
	}
	tb.MarkDead([]uint32{22}, Dead{})
	if acc, _, _ := tb.AddRoutes(9, []uint32{22}, nil); len(acc) != 0 {
		t.Fatal("a dead context was routed again")
	}
}

func TestTable_ChildDown(t *testing.T) {
	tb := tree(t)
	ids := tb.ChildDown(7)
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{7, 11}) {
		t.Fatalf("ChildDown(7) = %v", ids)
	}
	fresh := tb.MarkDead(ids, Dead{Code: wire.DeadUnreachable, Reason: "eof"})
	if len(fresh) != 2 || len(tb.MarkDead(ids, Dead{})) != 0 {
		t.Fatal("MarkDead is not idempotent")
	}
	if d, ok := tb.Dead(11); !ok || d.Reason != "eof" {
		t.Fatalf("Dead(11) = %v, %v", d, ok)
	}
	// The grants of the dead link are gone: nobody may announce them.
	if acc, _, _ := tb.AddRoutes(9, []uint32{12}, nil); len(acc) != 0 {
		t.Fatal("a dead link's grant was announced")
	}
	if got := tb.Descendants(); len(got) != 1 || got[9] != "b" {
		t.Fatalf("Descendants = %v", got)
	}
}

func TestTable_RoutedVia(t *testing.T) {
	tb := tree(t)
	if got := tb.RoutedVia(Child(9), []uint32{7, 11, 9, 0}); !slices.Equal(got, []uint32{9}) {
		t.Fatalf("RoutedVia(9) = %v", got)
	}
	if got := tb.RoutedVia(Parent, []uint32{7, 0, 99}); !slices.Equal(got, []uint32{0, 99}) {
		t.Fatalf("RoutedVia(parent) = %v", got)
	}
}

func TestTable_Ancestry(t *testing.T) {
	tb := tree(t)
	for id, want := range map[uint32]bool{0: true, 2: true, 5: false, 7: false, 99: false} {
		if tb.IsAncestor(id) != want {
			t.Errorf("IsAncestor(%d) != %v", id, want)
		}
	}
	if !tb.Below(11) || tb.Below(0) {
		t.Error("Below")
	}
	if tb.Name(11) != "a.1" || tb.Name(2) != "parent" || tb.Name(5) != "mid" {
		t.Error("Name")
	}
}
