package actors

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/spindle-go/spindle/actors/internal/route"
)

// policy holds what this context knows to judge the authority of frames
// beyond the reverse-path check (docs/security.md): the shape of its
// subtree and which child links are isolated (route.Shape, the pure core),
// and which refusals were already logged. It is safe for concurrent use.
type policy struct {
	mu sync.Mutex
	// shape has the parent of each context below this one, as announced
	// by ADD_ROUTE (it lets a dead reply be checked against the path to
	// its target), and the direct children in unidirectional mode.
	shape *route.Shape
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

func (p *policy) init() {
	p.shape = route.NewShape()
	p.warned = make(map[warnKey]struct{})
}

// learnParent records that context id lives below parent.
func (p *policy) learnParent(id, parent uint32) {
	p.mu.Lock()
	p.shape.LearnParent(id, parent)
	p.mu.Unlock()
}

// isolate puts the link to direct child id in unidirectional mode.
func (p *policy) isolate(id uint32) {
	p.mu.Lock()
	p.shape.Isolate(id)
	p.mu.Unlock()
}

// forget drops what is known about dead contexts.
func (p *policy) forget(ids []uint32) {
	gone := make(map[uint32]bool, len(ids))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shape.Forget(ids)
	for _, id := range ids {
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
	warn := !seen && len(p.warned) < maxWarned
	if warn {
		p.warned[k] = struct{}{}
	}
	p.mu.Unlock()
	args = append([]any{"src", src}, args...)
	if !warn {
		log.Debug(what, args...)
		return
	}
	log.Warn(what, args...)
}

// onPathTo reports whether context from lies on the path from this context
// to context target: target itself, this context, or a context between the
// two (route.Shape.OnPath). Only those may fail a request to target with a
// dead reply.
func (n *Node) onPathTo(from, target uint32) bool {
	if from == n.id || from == target {
		return true
	}
	n.mu.RLock()
	below := n.rt.Below(target)
	n.mu.RUnlock()
	n.pol.mu.Lock()
	defer n.pol.mu.Unlock()
	return n.pol.shape.OnPath(n.id, n.parents, below, from, target)
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
	refused := n.pol.shape.CrossRefused(in.peer, out.peer, n.cfg.Unidirectional)
	n.pol.mu.Unlock()
	if !refused {
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
