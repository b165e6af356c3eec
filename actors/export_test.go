package actors

// Hooks for the tests of package actors_test.

// NewReplyID exposes newReplyID.
var NewReplyID = newReplyID

// HeldWatches returns how many watches other contexts hold on this
// context's actors.
func (n *Node) HeldWatches() int { return n.track.held.count() }

// OnPathTo exposes onPathTo.
func (n *Node) OnPathTo(from, target uint32) bool { return n.onPathTo(from, target) }

// Detached returns how many times the watchdog of zero-hop delivery gave
// this link a new reader goroutine.
func (c *ChildLink) Detached() int64 { return c.l.Detached() }

// EgressRecords returns how many egress records the link to direct child
// id holds, and whether it is flooded (route/egress.go).
func (n *Node) EgressRecords(id uint32) (int, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.rt.EgressCount(id), n.rt.Flooded(id)
}

// HeldFrames returns how many frames of this link requesters read
// themselves, holding its read baton (link/baton.go).
func (c *ChildLink) HeldFrames() int64 { return c.l.HeldFrames() }
