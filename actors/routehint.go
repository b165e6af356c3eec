package actors

import (
	"sync"
	"sync/atomic"
)

// The send path's route lookup without the node's lock: a one-way stream
// looked up the route to its context under n.mu's read lock for every
// message (two map lookups and the lock's two atomic adds: a fifth of a
// streaming sender's CPU). Every change to the routes, the links and
// closed is made under n.mu's write lock, which counts its acquisitions;
// a lookup made under the read lock stays true while the count has not
// moved, so the last one of each context is kept with the count it was
// made at (Node.hints) and a send that finds the count unchanged uses it. A change
// made after the send read the count is ordered after the send, as it was
// when the send took the read lock first.

// routeMu is the node's lock, counting its write acquisitions.
type routeMu struct {
	sync.RWMutex
	writes atomic.Uint64
}

// Lock takes the write lock and counts it (before anything changes under
// it, so that no lookup made under a read lock before it is used after it).
func (m *routeMu) Lock() {
	m.RWMutex.Lock()
	m.writes.Add(1)
}

// routeHint is a route lookup and the count of n.mu's write acquisitions
// it was made at.
type routeHint struct {
	id     uint32
	writes uint64
	l      *link
}

// routeHints is how many lookups the node keeps, one per context ID modulo
// routeHints: senders to a few contexts at once each find theirs.
const routeHints = 16

// hintedLink returns the link toward context id from the last lookup of
// it, if nothing has changed under n.mu since it was made.
func (n *Node) hintedLink(id uint32) *link {
	if h := n.hints[id%routeHints].Load(); h != nil && h.id == id && h.writes == n.mu.writes.Load() {
		return h.l
	}
	return nil
}

// keepHint records a lookup of the link toward id made under n.mu's read
// lock, which is held.
func (n *Node) keepHint(id uint32, l *link) {
	n.hints[id%routeHints].Store(&routeHint{id: id, writes: n.mu.writes.Load(), l: l})
}
