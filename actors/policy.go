package actors

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/spindle-go/spindle/actors/internal/route"
)

// policy holds what this context knows to judge the authority of frames
// beyond the reverse-path check (docs/security.md): the shape of its
// subtree, which child links are isolated (unidirectional mode), and which
// refusals were already logged. It is safe for concurrent use.
type policy struct {
	mu sync.Mutex
	// up maps each context below this one to its parent, as announced by
	// ADD_ROUTE; it lets a dead reply be checked against the path to its
	// target.
	up map[uint32]uint32
	// isolated holds the direct children whose link is in unidirectional
	// mode: no frame passes between them and another child link.
	isolated map[uint32]bool
	// warned holds the refusals already logged at Warn, so that a hostile
	// context repeating a refused frame costs one record per kind of
	// refusal, not one per frame. Bounded by maxWarned.
	warned map[warnKey]struct{}
}

// warnKey names a kind of refusal from one source context.
type warnKey struct {
	src  uint32
	what string
}

// maxWarned bounds policy.warned; past it, refusals are logged at Debug.
const maxWarned = 4096

// maxDepth bounds the walk up the parent map (a context's ancestors number
// at most 1024, the limit of a hello).
const maxDepth = 1024

func (p *policy) init() {
	p.up = make(map[uint32]uint32)
	p.isolated = make(map[uint32]bool)
	p.warned = make(map[warnKey]struct{})
}

// learnParent records that context id lives below parent.
func (p *policy) learnParent(id, parent uint32) {
	p.mu.Lock()
	p.up[id] = parent
	p.mu.Unlock()
}

// parentKnown returns the recorded parent of context id.
func (p *policy) parentKnown(id uint32) (uint32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	parent, ok := p.up[id]
	return parent, ok
}

// isolate puts the link to direct child id in unidirectional mode.
func (p *policy) isolate(id uint32) {
	p.mu.Lock()
	p.isolated[id] = true
	p.mu.Unlock()
}

// forget drops what is known about dead contexts.
func (p *policy) forget(ids []uint32) {
	gone := make(map[uint32]bool, len(ids))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.up, id)
		delete(p.isolated, id)
		gone[id] = true
	}
	for k := range p.warned {
		if gone[k.src] {
			delete(p.warned, k)
		}
	}
}

// refused logs a refused frame: at Warn the first time src is refused for
// what, at Debug afterwards. args are key/value pairs.
func (p *policy) refused(log *slog.Logger, src uint32, what string, args ...any) {
	p.mu.Lock()
	k := warnKey{src, what}
	_, seen := p.warned[k]
	if !seen && len(p.warned) < maxWarned {
		p.warned[k] = struct{}{}
	}
	p.mu.Unlock()
	args = append([]any{"src", src}, args...)
	if seen {
		log.Debug(what, args...)
		return
	}
	log.Warn(what, args...)
}

// onPathTo reports whether context from lies on the path from this context
// to context target: target itself, this context, or a context between the
// two. Only those may fail a request to target with a dead reply.
//
// For a target below this context the path is known from the parent map
// that ADD_ROUTE builds. For any other target the path leaves through the
// parent: the ancestors up to the common ancestor are on it, and so is any
// ancestor above (an ancestor routes all our traffic to that part of the
// tree anyway), but an ancestor is not between us and a target that is
// itself an ancestor nearer to us. Contexts on the way down from the common
// ancestor into another branch are not known here: their dead replies are
// refused, and the target's death still reaches us by DEL_ROUTE.
func (n *Node) onPathTo(from, target uint32) bool {
	if from == n.id || from == target {
		return true
	}
	n.mu.RLock()
	below := n.rt.Below(target)
	n.mu.RUnlock()
	if below {
		id := target
		for i := 0; i < maxDepth; i++ {
			parent, ok := n.pol.parentKnown(id)
			if !ok || parent == n.id {
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
	for i, a := range n.parents {
		if a == target {
			targetAt = i
		}
	}
	for i, a := range n.parents {
		if a == from {
			return targetAt < 0 || i > targetAt
		}
	}
	return false
}

// mayDirect reports whether a SYSTEM stop, restart or resume for local actor
// target may come from context src with authority auth: from an ancestor of
// this context, or from the context of the actor's remote parent.
func (n *Node) mayDirect(src, auth uint32, target string) bool {
	if n.isAncestor(src) && n.isAncestor(auth) {
		return true
	}
	return src == auth && n.parentOf(target, src)
}

// learnParents records the parents that an ADD_ROUTE u from child link l
// announces for the IDs the route table accepted, and returns them in the
// order of accepted. A parent must be l's context or a context routed
// through l (a child cannot place a context outside its own subtree);
// without a valid one, l's context is taken. n.mu must be held.
func (n *Node) learnParents(l *link, u routeUpdate, accepted []uint32) []uint32 {
	if len(accepted) == 0 {
		return nil
	}
	at := make(map[uint32]int, len(u.IDs))
	for i, id := range u.IDs {
		at[id] = i
	}
	out := make([]uint32, len(accepted))
	for k, id := range accepted {
		parent := l.peer
		if i := at[id]; i < len(u.Parents) {
			p := u.Parents[i]
			if r, ok := n.rt.Route(p); p != id && (p == l.peer || ok && r == route.Child(l.peer)) {
				parent = p
			}
		}
		n.pol.learnParent(id, parent)
		out[k] = parent
	}
	return out
}

// initPolicy sets up the authority state of a new node.
func (n *Node) initPolicy() {
	n.pol.init()
}

// crossRefused reports why a frame that arrived on link in may not leave on
// link out ("" when it may): in unidirectional mode no frame passes between
// two different child links.
func (n *Node) crossRefused(in, out *link) string {
	if in == out || in.isParent || out.isParent {
		return ""
	}
	n.pol.mu.Lock()
	isolated := n.pol.isolated[in.peer] || n.pol.isolated[out.peer]
	n.pol.mu.Unlock()
	if !isolated && !n.cfg.Unidirectional {
		return ""
	}
	return fmt.Sprintf("unidirectional mode: context %d does not pass frames between its children %d and %d",
		n.id, in.peer, out.peer)
}

// childLinkOf returns the direct child whose link context id lives behind,
// or noLink when it is reached through the parent (or not at all).
func (n *Node) childLinkOf(id uint32) uint32 {
	n.mu.RLock()
	r, ok := n.rt.Route(id)
	n.mu.RUnlock()
	if !ok {
		return noLink
	}
	if child, isChild := r.ChildID(); isChild {
		return child
	}
	return noLink
}
