package introspect_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/introspect"
	"github.com/spindle-go/spindle/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.(*ActorSystem).Shutdown.func1"))
}

func byName(t *testing.T, tree *introspect.Context) map[string]*introspect.Context {
	t.Helper()
	m := map[string]*introspect.Context{}
	tree.Walk(func(c *introspect.Context) { m[c.Name] = c })
	return m
}

func treeWithin(t *testing.T, n *actors.Node, d time.Duration) *introspect.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tree, err := introspect.Tree(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestTree_Whole: the root's Tree holds every context of an in-process
// tree, up, with its parent, process facts and link counters.
func TestTree_Whole(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup, Children: []actorstest.Shape{
		{Name: "a", Children: []actorstest.Shape{{Name: "a1"}, {Name: "a2", Pipe: actorstest.OSPipe}}},
		{Name: "b"},
	}})
	tree := treeWithin(t, tr.Root(), 10*time.Second)
	got := byName(t, tree)
	if len(got) != 5 {
		t.Fatalf("%d contexts in the tree, want 5: %v", len(got), got)
	}
	for _, c := range tr.Contexts() {
		row := got[c.Name()]
		if row == nil || row.State != introspect.StateUp || row.ID != c.ID() || row.PID != os.Getpid() {
			t.Fatalf("context %s: %+v", c.Name(), row)
		}
		if c.Parent != nil && (row.Parent != c.Parent.ID() || row.Incarnation != c.Node.Incarnation().String()) {
			t.Fatalf("context %s: parent %d incarnation %s, want %d %s", c.Name(), row.Parent, row.Incarnation,
				c.Parent.ID(), c.Node.Incarnation())
		}
		if want := 1 + len(c.Children) - map[bool]int{true: 1}[c.Parent == nil]; len(row.Links) != want {
			t.Fatalf("context %s: %d links, want %d", c.Name(), len(row.Links), want)
		}
	}
	if a := got["a"]; len(a.Children) != 2 || a.Links[0].FramesIn == 0 || !a.Links[0].IsParent {
		t.Fatalf("a: %+v", a)
	}
	sub := treeWithin(t, tr.Node("a"), 10*time.Second) // any context, for its own subtree
	if len(byName(t, sub)) != 3 {
		t.Fatalf("a's subtree: %+v", sub)
	}
}

// TestTree_MuteChildMarked: a child that never answers (it takes
// TREE_QUERY and drops it) is a row in StateTimeout, and Tree returns by
// its deadline with the rest of the tree.
func TestTree_MuteChildMarked(t *testing.T) {
	mute := func(n *actors.Node) error {
		return n.HandleKind(wire.KindTreeQuery, func(wire.Frame) error { return nil })
	}
	tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup, Children: []actorstest.Shape{
		{Name: "mute", Setup: mute, Children: []actorstest.Shape{{Name: "below"}}},
		{Name: "ok"},
	}})
	got := byName(t, treeWithin(t, tr.Root(), 3*time.Second)) // generous: the honest child must answer in it under load
	if got["ok"].State != introspect.StateUp || got["mute"].State != introspect.StateTimeout || got["below"] != nil {
		t.Fatalf("tree %v; mute %+v", got, got["mute"])
	}
}

// TestTree_ChildWithoutPackage: a child that does not run the package
// refuses TREE_QUERY as an unknown kind, and its row says so at once
// (StateUnreachable, the refusal in Err), not at the deadline.
func TestTree_ChildWithoutPackage(t *testing.T) {
	bare := func(*actors.Node) error { return nil }
	tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup, Children: []actorstest.Shape{
		{Name: "bare", Setup: bare}, {Name: "ok"},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, err := introspect.Tree(ctx, tr.Root())
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Tree waited for its deadline")
	}
	got := byName(t, root)
	if b := got["bare"]; got["ok"].State != introspect.StateUp || b.State != introspect.StateUnreachable ||
		!strings.Contains(b.Err, "unknown kind") {
		t.Fatalf("tree %v; bare %+v", got, b)
	}
}

// hostile is a child's Setup that answers TREE_QUERY with what mode says.
func hostile(mode string, liar *uint32) func(n *actors.Node) error {
	return func(n *actors.Node) error {
		return n.HandleKind(wire.KindTreeQuery, func(f wire.Frame) error {
			var q struct {
				ID uint64 `msgpack:"i"`
			}
			if err := msgpack.Unmarshal(f.Body(), &q); err != nil {
				return err
			}
			_ = n.SendKind(wire.KindTreeReply, f.Header().Src(), hostileBody(n, mode, q.ID, *liar))
			return nil
		})
	}
}

type hRow struct {
	ID     uint32 `msgpack:"i"`
	Parent uint32 `msgpack:"p"`
	Name   string `msgpack:"n"`
	State  string `msgpack:"s"`
	Links  []struct {
		Peer uint32 `msgpack:"p"`
	} `msgpack:"l"`
}

func hostileBody(n *actors.Node, mode string, id uint64, sibling uint32) []byte {
	head, _ := msgpack.Marshal(map[string]any{"i": id})
	switch mode {
	case "garbage":
		g := append([]byte(nil), head...)
		g[0] = 0x82 // a second entry: "r", then a byte msgpack never uses
		return append(g, 0xa1, 'r', 0xc1, 0xff, 0x00)
	case "huge":
		b, _ := msgpack.Marshal(struct {
			ID   uint64 `msgpack:"i"`
			Rows []hRow `msgpack:"r"`
		}{id, []hRow{{ID: n.ID(), Name: strings.Repeat("x", introspect.MaxReplyBytes), State: "up"}}})
		return b
	}
	rows := []hRow{{ID: n.ID(), Name: strings.Repeat("n", 10*introspect.MaxString), State: "up"}}
	rows = append(rows, hRow{ID: sibling, Parent: n.ID(), Name: "stolen sibling", State: "up"}) // not behind it
	rows = append(rows, hRow{ID: n.ID(), Parent: n.ID(), Name: "duplicate", State: "up"})
	rows = append(rows, hRow{ID: 0, Parent: n.ID(), Name: "the root", State: "up"})
	fakes := introspect.MaxRows - 10 // within the shape's bounds: each is checked
	if mode == "flood" {
		fakes = 3 * introspect.MaxRows // over them: the answer is not decoded
	}
	for i := range fakes {
		rows = append(rows, hRow{ID: 5000 + uint32(i), Parent: n.ID(), Name: "fake", State: "bogus"})
	}
	b, _ := msgpack.Marshal(struct {
		ID   uint64 `msgpack:"i"`
		Rows []hRow `msgpack:"r"`
	}{id, rows})
	return b
}

// TestTree_HostileChildBounded: a child answering garbage, an answer over
// MaxReplyBytes, one of more rows than MaxRows, or a lying subtree (rows outside its subtree, duplicates,
// thousands of invented contexts, long strings, unknown states) costs the
// asker only the bounds: the honest rest of the tree is intact, the liar's
// invented rows are dropped and counted.
func TestTree_HostileChildBounded(t *testing.T) {
	for _, mode := range []string{"garbage", "huge", "flood", "lying"} {
		t.Run(mode, func(t *testing.T) {
			var sibling uint32
			tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup, Children: []actorstest.Shape{
				{Name: "honest", Children: []actorstest.Shape{{Name: "h1"}}},
				{Name: "mallory", Setup: hostile(mode, &sibling)},
			}})
			sibling = tr.Context("h1").ID()
			tree := treeWithin(t, tr.Root(), 10*time.Second)
			got := byName(t, tree)
			if got["honest"].State != introspect.StateUp || got["h1"] == nil || got["h1"].Parent != got["honest"].ID {
				t.Fatalf("honest subtree hurt: %+v", got)
			}
			n := 0
			tree.Walk(func(*introspect.Context) { n++ })
			m := got["mallory"]
			if m == nil {
				m = got[strings.Repeat("n", introspect.MaxString)]
			}
			switch {
			case m == nil:
				t.Fatalf("no row for mallory: %v", got)
			case mode != "lying" && (m.State != introspect.StateInvalid || n != 4):
				t.Fatalf("mallory %+v, %d rows", m, n)
			case mode == "lying" && (m.State != introspect.StateUp || len(m.Children) != 0 || n != 4 ||
				m.Dropped != 3+introspect.MaxRows-10 || len(m.Name) != introspect.MaxString):
				t.Fatalf("liar's row %+v (dropped %d), %d rows", m, m.Dropped, n)
			}
		})
	}
}
