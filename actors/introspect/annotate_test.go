package introspect_test

import (
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/introspect"
)

// TestTree_Annotations: what ancestors record of their descendants
// (Node.Annotate: the method, the restarts) is in the descendants' rows;
// the ancestor nearest the asker wins a field both recorded; a record of
// a context that is not a descendant is refused, and a dead context's is
// dropped.
func TestTree_Annotations(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup, Children: []actorstest.Shape{
		{Name: "a", Children: []actorstest.Shape{{Name: "a1"}}},
		{Name: "b"},
	}})
	root, a, a1, b := tr.Root(), tr.Node("a"), tr.Context("a1"), tr.Context("b")
	for _, ok := range []bool{
		a.Annotate(a1.ID(), actors.Annotation{Method: "ssh", Restarts: 1}), // the parent: how it started a1
		root.Annotate(a1.ID(), actors.Annotation{Restarts: 3}),             // the root's supervisor
		root.Annotate(b.ID(), actors.Annotation{Method: "docker"}),
	} {
		if !ok {
			t.Fatal("Annotate of a live descendant refused")
		}
	}
	if a.Annotate(root.ID(), actors.Annotation{Method: "x"}) || a.Annotate(b.ID(), actors.Annotation{Method: "x"}) {
		t.Fatal("Annotate of an ancestor or a sibling's context accepted")
	}
	got := byName(t, treeWithin(t, root, 10*time.Second))
	if r := got["a1"]; r.Method != "ssh" || r.Restarts != 3 {
		t.Fatalf("a1: method %q restarts %d, want ssh 3", r.Method, r.Restarts)
	}
	if r := got["b"]; r.Method != "docker" || r.Restarts != 0 {
		t.Fatalf("b: method %q restarts %d", r.Method, r.Restarts)
	}
	if r := got["root"]; r.Method != "" || got["a"].Method != "" {
		t.Fatalf("unannotated rows: root %q, a %q", r.Method, got["a"].Method)
	}
	if sub := byName(t, treeWithin(t, a, 10*time.Second)); sub["a1"].Restarts != 1 {
		t.Fatalf("a's own record of a1: %+v", sub["a1"])
	}
	b.Cut()
	<-b.Link().Done()
	if _, ok := root.AnnotationOf(b.ID()); ok {
		t.Fatal("the record of a dead context was kept")
	}
	if root.Annotate(b.ID(), actors.Annotation{Method: "docker"}) {
		t.Fatal("Annotate of a dead context accepted")
	}
}
