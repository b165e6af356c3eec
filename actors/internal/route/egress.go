package route

// Egress records (Mitogen's egress IDs): which contexts outside a child
// link's subtree that subtree exchanged forwarded frames with, so that the
// death of a context is sent down (DEL_ROUTE) only to the child links
// whose subtrees talked to it. A record is made for a frame this context
// forwards: on the link it came in on, for its destination; on the link it
// goes out on, for its source. Records name only contexts that are not
// this context, not its ancestors (their death ends the whole subtree
// below them anyway: link EOF) and not dead. Each child link holds at most
// [Limits].EgressIDs records; a link that would hold more is flooded
// instead: its records are freed and it gets every DEL_ROUTE, as before
// egress records existed. Records are freed when their context dies and
// when the link goes down.

// egressLink is the record of one child link.
type egressLink struct {
	ids   map[uint32]struct{}
	flood bool
}

// Update is one DEL_ROUTE to send: the link and the dead contexts it
// must learn of.
type Update struct {
	Link Link
	IDs  []uint32
}

// Talked reports whether the link to a child already records context id
// (or is flooded, or needs no record for it: id is this context, the child
// itself, an ancestor, in the link's own subtree, or dead): the owner's fast path, under
// a read lock, before it calls [Table.NoteTalk] under a write lock. It is
// true for the parent link (DEL_ROUTE always goes up).
func (t *Table) Talked(l Link, id uint32) bool {
	c, ok := l.ChildID()
	if !ok || id == t.self || id == c || t.IsAncestor(id) { // the cheap cases first
		return true
	}
	if e := t.egress[c]; e != nil {
		if e.flood {
			return true
		}
		if _, ok := e.ids[id]; ok {
			return true
		}
	}
	if via, ok := t.routes[id]; ok && via == c {
		return true // the link's own subtree
	}
	_, dead := t.dead[id]
	return dead
}

// NoteTalk records that the subtree behind link l exchanged a frame with
// context id. It does nothing for the parent link, for a record that
// exists or is not needed (see [Table.Talked]) and for a flooded link; a
// link at its bound of records is flooded from then on.
func (t *Table) NoteTalk(l Link, id uint32) {
	if t.Talked(l, id) {
		return
	}
	c, _ := l.ChildID()
	if _, up := t.routes[c]; !up {
		return // the link is gone (or not yet known): nothing to record on
	}
	e := t.egress[c]
	if e == nil {
		e = &egressLink{ids: make(map[uint32]struct{})}
		t.egress[c] = e
	}
	if t.lim.EgressIDs < 0 || len(e.ids) >= t.lim.EgressIDs {
		t.floodLink(c, e)
		return
	}
	e.ids[id] = struct{}{}
	t.talkers[id] = append(t.talkers[id], c)
}

// floodLink frees the records of child link c and floods it.
func (t *Table) floodLink(c uint32, e *egressLink) {
	for id := range e.ids {
		t.unTalk(id, c)
	}
	e.ids = nil
	e.flood = true
}

// unTalk removes child link c from the links that recorded id.
func (t *Table) unTalk(id, c uint32) {
	links := t.talkers[id]
	for i, x := range links {
		if x == c {
			links[i] = links[len(links)-1]
			links = links[:len(links)-1]
			break
		}
	}
	if len(links) == 0 {
		delete(t.talkers, id)
		return
	}
	t.talkers[id] = links
}

// dropEgress forgets the record of child link c (it went down).
func (t *Table) dropEgress(c uint32) {
	e := t.egress[c]
	if e == nil {
		return
	}
	for id := range e.ids {
		t.unTalk(id, c)
	}
	delete(t.egress, c)
}

// Flooded reports whether the link to child c gets every DEL_ROUTE.
func (t *Table) Flooded(c uint32) bool {
	e := t.egress[c]
	return t.lim.EgressIDs < 0 || (e != nil && e.flood)
}

// EgressCount returns how many egress records the link to child c holds.
func (t *Table) EgressCount(c uint32) int {
	if e := t.egress[c]; e != nil {
		return len(e.ids)
	}
	return 0
}

// DelRoutes plans the DEL_ROUTE updates for contexts ids that just died
// (after [Table.MarkDead]), learnt from link from (the link that broke or
// that the DEL_ROUTE came in on): all of ids up to the parent, if its link
// is up and it is not from, since every ancestor must learn of every death
// below it; to each other child link, the ids its subtree talked with
// (all of them when it is flooded). children are this context's child
// links, in the order the updates should go. It frees the records of ids.
func (t *Table) DelRoutes(from Link, ids []uint32, children []uint32) []Update {
	var out []Update
	if t.hasParent && !from.IsParent() {
		out = append(out, Update{Link: Parent, IDs: ids})
	}
	var per map[uint32][]uint32 // child link -> the ids it recorded
	for _, id := range ids {
		for _, c := range t.talkers[id] {
			if per == nil {
				per = make(map[uint32][]uint32)
			}
			per[c] = append(per[c], id)
			if e := t.egress[c]; e != nil {
				delete(e.ids, id)
			}
		}
		delete(t.talkers, id)
		t.dropEgress(id) // a dead direct child's own record
	}
	for _, c := range children {
		if l := Child(c); l == from {
			continue
		}
		switch {
		case t.Flooded(c):
			out = append(out, Update{Link: Child(c), IDs: ids})
		case len(per[c]) > 0:
			out = append(out, Update{Link: Child(c), IDs: per[c]})
		}
	}
	return out
}
