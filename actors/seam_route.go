package actors

// ChildVia reports the direct child of this context through whose link
// context id is reached; ok is false when id is reached through the parent
// or not at all (id is not a descendant). It is the seam for feature
// packages that authorize or bound what contexts may do per child link,
// as the node does for watches and ID blocks (actors/calls bounds the
// calls of a child link's whole subtree with it). It is safe for
// concurrent use and takes the node's read lock for one lookup.
func (n *Node) ChildVia(id uint32) (child uint32, ok bool) {
	c := n.childLinkOf(id)
	return c, c != noLink
}
