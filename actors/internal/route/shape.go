package route

// Shape is what a context knows of the tree's shape for authority checks
// beyond the reverse path: the parent of each context in its subtree (from
// ADD_ROUTE) and which direct children are isolated (unidirectional mode).
// It is a pure value: not safe for concurrent use, no IO.
type Shape struct {
	up       map[uint32]uint32 // context below -> its parent
	isolated map[uint32]bool   // direct children in unidirectional mode
}

// maxDepth bounds the walk up the parent map: a context's ancestors number
// at most 1024 (the limit of a hello); a made-up cycle ends there too.
const maxDepth = 1024

// NewShape returns an empty Shape.
func NewShape() *Shape {
	return &Shape{up: make(map[uint32]uint32), isolated: make(map[uint32]bool)}
}

// LearnParent records that context id lives below parent.
func (s *Shape) LearnParent(id, parent uint32) { s.up[id] = parent }

// Parent returns the recorded parent of id.
func (s *Shape) Parent(id uint32) (uint32, bool) {
	p, ok := s.up[id]
	return p, ok
}

// Isolate puts direct child id in unidirectional mode.
func (s *Shape) Isolate(id uint32) { s.isolated[id] = true }

// Isolated reports whether direct child id is in unidirectional mode.
func (s *Shape) Isolated(id uint32) bool { return s.isolated[id] }

// Forget drops what is known of dead contexts.
func (s *Shape) Forget(ids []uint32) {
	for _, id := range ids {
		delete(s.up, id)
		delete(s.isolated, id)
	}
}

// Len returns how many contexts the parent map holds.
func (s *Shape) Len() int { return len(s.up) }

// OnPath reports whether context from lies on the path from context self
// to context target: target itself, self, or a context between the two.
// ancestors are self's ancestors, root first, ending with its parent;
// below says whether target lives in self's subtree.
//
// Below self the path is the parent map's chain from target up to self.
// Elsewhere the path leaves through the parent: every ancestor is on it or
// routes all of self's traffic to that part of the tree, except ancestors
// above a target that is itself an ancestor. Contexts on the way down from
// the common ancestor into another branch are not known here and are not
// on the path as far as OnPath can tell.
func (s *Shape) OnPath(self uint32, ancestors []uint32, below bool, from, target uint32) bool {
	if from == self || from == target {
		return true
	}
	if below {
		id := target
		for i := 0; i < maxDepth; i++ {
			parent, ok := s.up[id]
			if !ok || parent == self {
				return false
			}
			if parent == from {
				return true
			}
			id = parent
		}
		return false
	}
	targetAt := -1
	for i, a := range ancestors {
		if a == target {
			targetAt = i
		}
	}
	for i, a := range ancestors {
		if a == from {
			return targetAt < 0 || i > targetAt
		}
	}
	return false
}

// CrossRefused reports whether a frame that came in from direct child in
// may go out to direct child out (both child links, in != out): never when
// either is isolated or all children are (unidirectional).
func (s *Shape) CrossRefused(in, out uint32, unidirectional bool) bool {
	return in != out && (unidirectional || s.isolated[in] || s.isolated[out])
}
