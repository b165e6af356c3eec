package route

import "testing"

// shapeOf builds the Shape that context self learns of its subtree from
// edges child -> parent.
func shapeOf(edges map[uint32]uint32) *Shape {
	s := NewShape()
	for id, p := range edges {
		s.LearnParent(id, p)
	}
	return s
}

// TestShape_OnPath: who may fail a request to target with a dead reply, on
// the tree 0 -> {1 -> {3 -> 5, 4}, 2}, seen from 0, 1, 3, 5 and 2.
func TestShape_OnPath(t *testing.T) {
	whole := map[uint32]uint32{1: 0, 2: 0, 3: 1, 4: 1, 5: 3}
	sub := func(root uint32) *Shape { // the part of whole below root
		s := NewShape()
		for id, p := range whole {
			for a := p; ; a = whole[a] {
				if a == root {
					s.LearnParent(id, p)
					break
				}
				if a == 0 {
					break
				}
			}
		}
		return s
	}
	isBelow := func(root, id uint32) bool {
		for a, ok := whole[id]; ok; a, ok = whole[a] {
			if a == root {
				return true
			}
		}
		return false
	}
	ancestors := map[uint32][]uint32{0: nil, 1: {0}, 2: {0}, 3: {0, 1}, 5: {0, 1, 3}}
	tests := []struct {
		self, from, target uint32
		want               bool
	}{
		{0, 5, 5, true},  // the target itself
		{0, 0, 5, true},  // ourselves
		{0, 3, 5, true},  // between
		{0, 1, 5, true},  // between, two hops up
		{0, 4, 5, false}, // a cousin behind the same link
		{0, 2, 5, false}, // another branch
		{0, 4, 3, false},
		{1, 3, 5, true},
		{1, 0, 5, false}, // the parent is not below
		{3, 1, 0, true},  // an ancestor below the target
		{3, 4, 0, false}, // a sibling: "same route" as the root
		{3, 2, 0, false},
		{3, 0, 1, false}, // an ancestor above a target that is an ancestor
		{3, 0, 2, true},  // the common ancestor
		{3, 1, 2, true},  // on the way up
		{3, 4, 2, false},
		{5, 3, 0, true},
		{5, 4, 0, false},
		{2, 5, 0, false},
		{2, 1, 5, false}, // on the way down into another branch: not known
		{2, 0, 5, true},
	}
	for _, tt := range tests {
		s := sub(tt.self)
		if got := s.OnPath(tt.self, ancestors[tt.self], isBelow(tt.self, tt.target), tt.from, tt.target); got != tt.want {
			t.Errorf("context %d: OnPath(from %d, target %d) = %v, want %v", tt.self, tt.from, tt.target, got, tt.want)
		}
	}
}

// TestShape_MadeUpCycle: a child that announces a cycle in its subtree
// cannot make the walk loop.
func TestShape_MadeUpCycle(t *testing.T) {
	s := shapeOf(map[uint32]uint32{7: 8, 8: 7, 1: 0})
	if s.OnPath(0, nil, true, 9, 7) {
		t.Error("a context outside the cycle is on its path")
	}
	if !s.OnPath(0, nil, true, 8, 7) {
		t.Error("the announced parent is not on the path")
	}
}

func TestShape_IsolationAndForget(t *testing.T) {
	s := NewShape()
	s.LearnParent(1, 0)
	s.LearnParent(2, 0)
	s.Isolate(1)
	for _, tt := range []struct {
		in, out uint32
		uni     bool
		want    bool
	}{
		{1, 2, false, true}, {2, 1, false, true}, {2, 3, false, false}, {2, 3, true, true}, {1, 1, true, false},
	} {
		if got := s.CrossRefused(tt.in, tt.out, tt.uni); got != tt.want {
			t.Errorf("CrossRefused(%d, %d, %v) = %v, want %v", tt.in, tt.out, tt.uni, got, tt.want)
		}
	}
	s.Forget([]uint32{1})
	if s.Isolated(1) || s.Len() != 1 {
		t.Errorf("after Forget: isolated %v, %d parents", s.Isolated(1), s.Len())
	}
}
