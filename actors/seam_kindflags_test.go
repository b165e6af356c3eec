package actors_test

import (
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// TestSendKindFlags: a feature kind's frames carry START, END and ERROR to
// its handler (also when chunked); FDS and built-in kinds are refused.
func TestSendKindFlags(t *testing.T) {
	const kind wire.Kind = 4310
	type got struct {
		flags wire.Flags
		n     int
	}
	ch := make(chan got, 4)
	setup := func(n *actors.Node) error {
		return n.HandleKind(kind, func(f wire.Frame) error {
			ch <- got{f.Header().Flags(), len(f.Body())}
			return nil
		})
	}
	root := newRoot(t, actors.Config{Setup: setup})
	c := attach(t, root, "worker", actors.Config{Setup: setup})
	for _, tt := range []struct {
		flags wire.Flags
		n     int
	}{{wire.FlagStart, 3}, {wire.FlagEnd | wire.FlagError, 0}, {wire.FlagEnd, 300 << 10}} {
		if err := root.SendKindFlags(kind, tt.flags, c.node.ID(), make([]byte, tt.n)); err != nil {
			t.Fatal(err)
		}
		if g := recv(t, ch, waitLong, "flagged frame"); g.flags != tt.flags || g.n != tt.n {
			t.Errorf("got flags %s, %d bytes; want %s, %d", g.flags, g.n, tt.flags, tt.n)
		}
	}
	if err := root.SendKindFlags(kind, wire.FlagFDs, c.node.ID(), nil); err == nil {
		t.Error("FDS flag accepted")
	}
	if err := root.SendKindFlags(wire.KindUser, 0, c.node.ID(), nil); err == nil {
		t.Error("built-in kind accepted")
	}
}
