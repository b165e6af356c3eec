package actors

import (
	"fmt"

	"github.com/spindle-go/spindle/wire"
)

// SendKindFlags is [Node.SendKind] with header flags: a feature kind may
// mark its frames with wire.FlagStart, wire.FlagEnd and wire.FlagError (the
// modifiers of a stream of its own, as package actors/transfer does); the
// handler reads them back from f.Header().Flags(). Any other flag (FDS) is
// an error and nothing is sent. It is safe for concurrent use and may be
// called from a KindHandler, as SendKind.
func (n *Node) SendKindFlags(kind wire.Kind, flags wire.Flags, dst uint32, body []byte) error {
	const allowed = wire.FlagStart | wire.FlagEnd | wire.FlagError
	if flags&^allowed != 0 {
		return fmt.Errorf("actors: SendKindFlags(%s): flags %s not allowed", kind, flags&^allowed)
	}
	if _, builtin := n.builtin[kind]; builtin {
		return fmt.Errorf("%w: %s is a built-in kind", ErrKindTaken, kind)
	}
	if dst == n.id {
		return fmt.Errorf("actors: SendKindFlags(%s) to this context %d", kind, dst)
	}
	return n.sendFrame(wire.FrameSpec{Kind: kind, Flags: flags, Dst: dst, Src: n.id, Auth: n.id}, nil, body)
}
